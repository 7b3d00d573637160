// `archive`: the service. Consumes every archivable topic and stores each record exactly once; the service itself
// lives in lib/archive/ (supervisor.ts runs it), this file parses its options.
import { INDEX_SILENCE_SECONDS } from "../index/database.ts";
import { requestTimeoutFor } from "../archive/consumer.ts";
import { type ArchiverOptions, runArchiver } from "../archive/supervisor.ts";
import type { Command } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, type ResolvedSettings, settingsHelp } from "../cli/config.ts";
import {
  connectServices,
  loadSettings,
  printConfig,
  publicTopicsSetting,
  topicListSetting,
} from "../cli/services.ts";
import { flagOrEnv, intInRange, LIMITS } from "../cli/flags.ts";
import { errorMessage, hkError, isHkError } from "../runtime/errors.ts";
import { surviveStrayConnectionErrors } from "../runtime/stray_errors.ts";
import { HOPAUTH_OPTIONS, hopauthHelp, hopauthSettings, policyRefreshMs } from "../hopauth/settings.ts";
import { DEFAULT_POLICY_REFRESH_SECONDS } from "../topics/policy_hopauth.ts";
import { optionSpec } from "../cli/options.ts";

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  "until-end": { type: "boolean" },
  "topic-refresh": { type: "string" },
  "put-concurrency": { type: "string" },
  "max-inflight-mib": { type: "string" },
  "partitions-concurrency": { type: "string" },
  "session-timeout": { type: "string" },
  "http-port": { type: "string" },
  ...optionSpec(HOPAUTH_OPTIONS),
  "policy-refresh": { type: "string" },
} as const;

export interface ArchiveOptions extends ArchiverOptions {
  settings: ResolvedSettings;
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
  const int = (flag: string, envName: string, range: { min: number; max: number }, fallback: number) =>
    intInRange(...flagOrEnv("archive", flag, values, env, envName), range, fallback);
  const [portSource, portText] = flagOrEnv("archive", "http-port", values, env, "HTTP_PORT");
  return {
    settings,
    configPath,
    printConfig: values["print-config"] === true,
    untilEnd: values["until-end"] === true,
    topicRefreshMs: int("topic-refresh", "TOPIC_REFRESH_SECONDS", LIMITS.topicRefreshSeconds, 60) * 1000,
    putConcurrency: int("put-concurrency", "PUT_CONCURRENCY", LIMITS.concurrency, 64),
    maxInflightBytes: int("max-inflight-mib", "MAX_INFLIGHT_MIB", LIMITS.inflightMib, 64) * 2 ** 20,
    partitionsConcurrency: int("partitions-concurrency", "PARTITIONS_CONCURRENCY", LIMITS.concurrency, 4),
    sessionTimeoutMs: int("session-timeout", "SESSION_TIMEOUT_SECONDS", LIMITS.sessionTimeoutSeconds, 45) *
      1000,
    httpPort: portText === undefined ? undefined : intInRange(portSource, portText, LIMITS.port, 0),
    publicTopics: publicTopicsSetting("archive", settings),
    indexText: topicListSetting("archive", settings, "index-text"),
    ...withHopauth(hopauthSettings("archive", values, env)),
    policyRefreshMs: policyRefreshMs("archive", values, env, DEFAULT_POLICY_REFRESH_SECONDS),
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
  --until-end              archive up to the end offsets that existed at start, then exit 0
  --topic-refresh SECONDS  how often to re-list topics (default 60) [env TOPIC_REFRESH_SECONDS]
  --put-concurrency N      concurrent object writes (default 64) [env PUT_CONCURRENCY]
  --max-inflight-mib N     MiB of objects being written at once (default 64) [env MAX_INFLIGHT_MIB]
  --partitions-concurrency N  partitions processed at once (default 4) [env PARTITIONS_CONCURRENCY]
  --session-timeout SECONDS  how long the consumer group waits for a silent (crashed, killed) archiver before
                           giving its partitions to the others, or to its restarted self (default 45; brokers
                           accept 6 to 1800 by default) [env SESSION_TIMEOUT_SECONDS]
  --http-port PORT         serve /healthz and /metrics on this port (off by default) [env HTTP_PORT]
${hopauthHelp(27)}
  --policy-refresh SECONDS how often to fetch hopauth's topic flags again (default ${DEFAULT_POLICY_REFRESH_SECONDS}, as
                           archive-core); also at once for a record of a topic hopauth did not list
                           [env POLICY_REFRESH_SECONDS]
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

/** exactOptionalPropertyTypes: no `hopauth: undefined`. */
function withHopauth(hopauth: ArchiveOptions["hopauth"]): Pick<ArchiveOptions, "hopauth"> {
  return hopauth === undefined ? {} : { hopauth };
}

function archiveExtras(o: ArchiveOptions): Record<string, unknown> {
  return {
    "until-end": o.untilEnd,
    "topic-refresh": o.topicRefreshMs / 1000,
    "put-concurrency": o.putConcurrency,
    "max-inflight-mib": o.maxInflightBytes / 2 ** 20,
    "partitions-concurrency": o.partitionsConcurrency,
    "session-timeout": o.sessionTimeoutMs / 1000,
    "http-port": o.httpPort ?? null,
    "hopauth-url": o.hopauth?.url ?? null,
    "hopauth-username": o.hopauth?.credential.username ?? null,
    "policy-refresh": o.policyRefreshMs / 1000,
  };
}
