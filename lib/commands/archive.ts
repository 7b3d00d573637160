// `archive`: the service. Consumes every archivable topic and stores each record exactly once; the service itself
// lives in lib/archive/ (supervisor.ts runs it), this file parses its options.
import { INDEX_SILENCE_SECONDS } from "../index/database.ts";
import { requestTimeoutFor } from "../archive/consumer.ts";
import { type ArchiverOptions, runArchiver } from "../archive/supervisor.ts";
import type { Command } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, type ResolvedSettings, settingsHelp } from "../cli/config.ts";
import { connectServices, loadSettings, printConfig } from "../cli/services.ts";
import { errorMessage, hkError, isHkError } from "../runtime/errors.ts";
import { surviveStrayConnectionErrors } from "../runtime/stray_errors.ts";
import { HOPAUTH_OPTIONS } from "../cli/hopauth_settings.ts";
import { policySettings } from "../cli/topic_policy.ts";
import { DEFAULT_POLICY_REFRESH_SECONDS } from "../topics/policy_hopauth.ts";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";

const ARCHIVE_OPTIONS = {
  "until-end": { type: "boolean", help: "archive up to the end offsets that existed at start, then exit 0" },
  "topic-refresh": {
    type: "string",
    arg: "SECONDS",
    env: "TOPIC_REFRESH_SECONDS",
    default: 60,
    help: "how often to re-list topics",
    parse: { int: "topicRefreshSeconds" },
  },
  "put-concurrency": {
    type: "string",
    arg: "N",
    env: "PUT_CONCURRENCY",
    default: 64,
    help: "concurrent object writes",
    parse: { int: "concurrency" },
  },
  "max-inflight-mib": {
    type: "string",
    arg: "N",
    env: "MAX_INFLIGHT_MIB",
    default: 64,
    help: "MiB of objects being written at once",
    parse: { int: "inflightMib" },
  },
  "partitions-concurrency": {
    type: "string",
    arg: "N",
    env: "PARTITIONS_CONCURRENCY",
    default: 4,
    help: "partitions processed at once",
    parse: { int: "concurrency" },
  },
  "session-timeout": {
    type: "string",
    arg: "SECONDS",
    env: "SESSION_TIMEOUT_SECONDS",
    default: 45,
    help: [
      "how long the consumer group waits for a silent (crashed, killed) archiver before",
      "giving its partitions to the others, or to its restarted self (default {default}; brokers",
      "accept 6 to 1800 by default)",
    ],
    parse: { int: "sessionTimeoutSeconds" },
  },
  "http-port": {
    type: "string",
    arg: "PORT",
    env: "HTTP_PORT",
    help: "serve /healthz and /metrics on this port (off by default)",
    parse: { int: "port" },
  },
  // Read and checked by policySettings (lib/cli/topic_policy.ts, shared with `topics`, `status`, `db`).
  ...HOPAUTH_OPTIONS,
  "policy-refresh": {
    type: "string",
    arg: "SECONDS",
    env: "POLICY_REFRESH_SECONDS",
    default: DEFAULT_POLICY_REFRESH_SECONDS,
    help: [
      "how often to fetch hopauth's topic flags again (default {default}, as",
      "archive-core); also at once for a record of a topic hopauth did not list",
      "",
    ],
    parse: { int: "topicRefreshSeconds" },
  },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(ARCHIVE_OPTIONS) };

export interface ArchiveOptions extends ArchiverOptions {
  settings: ResolvedSettings;
  /** The options as the table reads them, for --print-config. */
  own: OptionValues<typeof ARCHIVE_OPTIONS>;
  configPath: string | undefined;
  printConfig: boolean;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseArchiveArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): ArchiveOptions {
  const { values } = parseCommandArgs("archive", argv, OPTIONS);
  const configPath = values.config as string | undefined;
  const settings = loadSettings(values, env, configPath, readConfig);
  const own = readOptions("archive", ARCHIVE_OPTIONS, values, env);
  return {
    settings,
    own,
    configPath,
    printConfig: values["print-config"] === true,
    untilEnd: own["until-end"],
    topicRefreshMs: own["topic-refresh"] * 1000,
    putConcurrency: own["put-concurrency"],
    maxInflightBytes: own["max-inflight-mib"] * 2 ** 20,
    partitionsConcurrency: own["partitions-concurrency"],
    sessionTimeoutMs: own["session-timeout"] * 1000,
    httpPort: own["http-port"],
    ...policySettings("archive", values, env, settings),
    policyRefreshMs: own["policy-refresh"] * 1000,
  };
}

export const command: Command = {
  name: "archive",
  summary: "archive every readable topic (minus the veto list) into S3 + PostgreSQL",
  help: `Usage: housekeeping archive [options]

Archives every topic the Kafka credential can read, except Kafka's internal topics and the topics on the veto list,
into the object store (one BSON object per record) and the PostgreSQL index (one row per record), exactly once.
Offsets are committed only after the records below them are stored and indexed. Stops gracefully on SIGINT/SIGTERM.
With --hopauth-url, hopauth's per-topic flags decide what is archived, public and indexed, and switches made there
apply within one --policy-refresh period, with no restart (\`housekeeping topics\` shows each decision).

Options:
${optionsHelp(ARCHIVE_OPTIONS, { column: 27 })}
${settingsHelp()}

Examples:
  housekeeping archive                                  # Hopskotch with ~/.config/hop/auth.toml, local store
  KAFKA_BROKERS=127.0.0.1:9092 housekeeping archive --until-end
  S3_BUCKET=hop-archive DATABASE_URL=postgres://... housekeeping archive --http-port 8080
  HOPAUTH_USERNAME=archiver HOPAUTH_PASSWORD=... housekeeping archive \\
    --hopauth-url https://admin.hop.scimma.org/hopauth/api
`,
  async run(argv, ctx) {
    const options = parseArchiveArgs(argv, ctx.env);
    if (options.printConfig) return printConfig(ctx, options.settings, archiveExtras(options));
    const services = await connectServices(options.settings, ctx, {
      clientId: "housekeeping-archive",
      requestTimeoutMs: requestTimeoutFor(options.sessionTimeoutMs),
      indexSilenceSeconds: INDEX_SILENCE_SECONDS,
    });
    // A service outage must be waited out, not end the process (see lib/runtime/stray_errors.ts).
    const restoreDefault = surviveStrayConnectionErrors(services.log);
    try {
      return await runArchiver(options, services, ctx);
    } catch (e) {
      // Whatever stops the service ends as one coded line (main.ts prints a stack only for uncoded errors).
      throw isHkError(e)
        ? e
        : hkError("ARCHIVE_FAILED", `archiving stopped: ${errorMessage(e)}`, { cause: e });
    } finally {
      await services.close();
      restoreDefault();
    }
  },
};

/** --print-config's options: as the table reads them, hopauth's as hopauthSettings checked them. */
function archiveExtras(o: ArchiveOptions): Record<string, unknown> {
  return {
    ...printableOptions(ARCHIVE_OPTIONS, o.own),
    "hopauth-url": o.hopauth?.url ?? null,
    "hopauth-username": o.hopauth?.credential.username ?? null,
    "hopauth-credential": o.hopauth?.credentialSource ?? null,
  };
}
