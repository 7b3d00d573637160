// `serve`: the archive as an HTTP service in scimma/archive-api's dialect (see lib/serve/server.ts): messages by
// UUID, their raw values, topic listings, and the offload endpoint hop-client posts oversized messages to.
import type { Command } from "../cli/command.ts";
import { INDEX_SILENCE_SECONDS } from "../index/database.ts";
import {
  CONNECTION_OPTIONS,
  type OptionSpec,
  parseCommandArgs,
  settingsHelp,
  settingValue,
} from "../cli/config.ts";
import {
  commandLogger,
  type CommandSettings,
  commandSettings,
  openIndex,
  openSettingsStore,
  printConfig,
  requireCurrentSchema,
} from "../cli/services.ts";
import { badValue, booleanFlagOrEnv, flagOrEnv, intInRange, LIMITS } from "../cli/flags.ts";
import { createIngest } from "../archive/ingest.ts";
import { parseKeyLayout } from "../format/keys.ts";
import { isListenFailure, listenError } from "../runtime/http.ts";
import { createMetrics } from "../runtime/metrics.ts";
import { createHopAuth, type HopAuth, textResponse } from "../serve/hopauth.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { publicTopicsSetting } from "../cli/services.ts";
import { credentialFromEnv, policyRefreshMs } from "../hopauth/settings.ts";
import type { ScramCredential } from "../hopauth/scram.ts";
import { observingIngest } from "../archive/policy_ingest.ts";
import {
  createHopauthPolicy,
  DEFAULT_POLICY_REFRESH_SECONDS,
  type HopauthPolicy,
} from "../topics/policy_hopauth.ts";
import { parseVeto } from "../topics/veto.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { startServer, UPLOAD_TIMEOUT_MS } from "../serve/server.ts";
import { createListing } from "../index/listing.ts";
import { createHopAuthMulti } from "../serve/hopauth_multi.ts";
import { type CorsPolicy, corsPolicy } from "../serve/manners.ts";
import { VERSION } from "../version.ts";

const OPTIONS: Record<string, OptionSpec> = {
  ...CONNECTION_OPTIONS,
  "http-port": { type: "string" },
  "http-host": { type: "string" },
  "hopauth-url": { type: "string" },
  "max-upload-mib": { type: "string" },
  "upload-timeout": { type: "string" },
  "read-only": { type: "boolean" },
  "cors-origins": { type: "string" },
  "cors-origin-regex": { type: "string" },
};

export interface ServeOptions extends CommandSettings {
  httpPort: number;
  httpHost: string;
  hopAuthUrl: string | undefined;
  publicTopics: PublicTopics;
  maxUploadBytes: number;
  uploadTimeoutMs: number;
  readOnly: boolean;
  /** HOPAUTH_USERNAME/PASSWORD with --hopauth-url: uploads' public and text flags follow hopauth's topic flags. */
  hopauthCredential?: ScramCredential;
  policyRefreshMs: number;
  cors: CorsPolicy;
}

// An upload is held whole while it is checked and stored (about three times its size at the peak, and the ingest
// core admits two at once), and one S3 PUT carries it: past 1 GiB a single request is the wrong tool, and a typo
// (65536 for 64) would let one client take the machine's memory.
const UPLOAD_MIB = { min: 1, max: 1024 };

/** Pure: argv + environment (+ config file text) -> options. */
export function parseServeArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): ServeOptions {
  const { values } = parseCommandArgs("serve", argv, OPTIONS);
  const given = (flag: string, envName: string) => flagOrEnv("serve", flag, values, env, envName);
  // 0: any free port.
  const httpPort = intInRange(...given("http-port", "HTTP_PORT"), { min: 0, max: 65535 }, 8080);
  const [hopAuthSource, hopAuthUrl] = given("hopauth-url", "HOPAUTH_API_URL");
  if (hopAuthUrl !== undefined && !/^https?:\/\//.test(hopAuthUrl)) {
    throw badValue(
      hopAuthSource,
      `--hopauth-url must be an http(s) URL such as https://host/hopauth/api, got "${hopAuthUrl}"`,
    );
  }
  const settings = commandSettings(values, env, readConfig);
  return {
    ...settings,
    httpPort,
    httpHost: given("http-host", "HTTP_HOST")[1] || "0.0.0.0",
    hopAuthUrl,
    publicTopics: publicTopicsSetting("serve", settings.settings),
    maxUploadBytes: intInRange(...given("max-upload-mib", "MAX_UPLOAD_MIB"), UPLOAD_MIB, 64) * 2 ** 20,
    uploadTimeoutMs: intInRange(
      ...given("upload-timeout", "UPLOAD_TIMEOUT_SECONDS"),
      LIMITS.timeoutSeconds,
      UPLOAD_TIMEOUT_MS / 1000,
    ) *
      1000,
    readOnly: booleanFlagOrEnv("serve", "read-only", values, env, "READ_ONLY"),
    ...withCredential(hopAuthUrl === undefined ? undefined : credentialFromEnv(env)),
    policyRefreshMs: policyRefreshMs("serve", values, env, DEFAULT_POLICY_REFRESH_SECONDS),
    // archive-api's settings and spelling: origins separated by white space, a regular expression matched whole.
    cors: corsPolicy(
      (given("cors-origins", "CORS_ORIGINS")[1] ?? "").split(/[\s,]+/).filter((o) => o !== ""),
      given("cors-origin-regex", "CORS_ORIGIN_REGEX")[1],
      "--cors-origin-regex (CORS_ORIGIN_REGEX)",
    ),
  };
}

function withCredential(credential: ScramCredential | undefined): Pick<ServeOptions, "hopauthCredential"> {
  return credential === undefined ? {} : { hopauthCredential: credential };
}

/**
 * hopauth's topic policy for uploads (archive-api's Decider: public when publicly_readable, text indexed when
 * index_archived_text, `+oversized` as its topic), fetched in the background: serve does not wait for hopauth.
 */
function uploadPolicy(options: ServeOptions, log: Logger, metrics: Metrics): HopauthPolicy | undefined {
  if (options.hopAuthUrl === undefined || options.hopauthCredential === undefined) return undefined;
  return createHopauthPolicy({
    url: options.hopAuthUrl,
    credential: options.hopauthCredential,
    veto: parseVeto("[]", "serve (no veto list)"),
    refreshMs: options.policyRefreshMs,
    log,
    metrics,
  });
}

/** Without a permissions service only public topics can be read, and nothing written. */
function noPermissionsService(): HopAuth {
  const refuse = () =>
    textResponse(403, "Operation not permitted: this archive has no permissions service (--hopauth-url)");
  return {
    authorize: () => Promise.resolve({ ok: false, response: refuse() }),
    reachable: () => Promise.resolve(false),
  };
}

/** The offload endpoint of a read-only archive (archive-api's READ_ONLY): every write is refused with 501. */
function readOnly(auth: HopAuth): HopAuth {
  return {
    reachable: auth.reachable,
    authorize: (header, topic, op) =>
      op === "Write"
        ? Promise.resolve({ ok: false, response: textResponse(501, "Server is configured as read-only") })
        : auth.authorize(header, topic, op),
  };
}

export const command: Command = {
  name: "serve",
  summary:
    "the archive over HTTP as archive-api serves it: messages, raw values, listings, hop-client offload",
  help: `Usage: housekeeping serve [options]

Serves the archive over HTTP in scimma/archive-api's dialect, which hop-client (>= 0.11) and archive-api's users
speak. Objects are sent exactly as stored, values without re-encoding, streamed and checked against the index.

  GET  /msg/{uuid}                     the BSON object (ETag, Content-Length; If-None-Match answers 304)
  GET  /msg/{uuid}/raw_file/{name}     the value bytes, as a download named {name}
  GET  /topic/{topic}                 a page of the topic's messages, BSON {next, prev, messages}: stored
                                       objects (at most 64), or with meta=true metadata records (at most 1024);
                                       start_time, end_time (ms, end exclusive), limit, asc, include_retracted,
                                       page (the next or prev bookmark of an answer)
  GET  /messages, /messages/count      the same across topics (topic=T repeated; none: all readable), with
                                       search_query (PostgreSQL websearch syntax over the text index)
  GET  /topics                         BSON {topics}: topics with public messages, and those you may read
  PUT  /msg/{uuid}/retraction?retracted=true|false
                                       for an Owner of the topic's group, or the message's _sender
  POST /topic/{topic}                  archive a BSON {message, headers, key} (hop-client posts messages too
                                       large for Kafka to {topic}+oversized); 201 {archive_uuid,
                                       is_client_uuid}, exactly once under retries (without an _id header the
                                       UUID is derived from topic and content)
  GET  /openapi.json, /docs            the API description, and a page rendering it
  GET  /health_check                   {"DatabaseOK", "ObjectStoreOK", "HopAuthOK"}
  GET  /healthz, /metrics              as for \`archive\`

Access: topics on --public-topics are readable by anyone. Every other read, and every write, is authorised by
forwarding the caller's Authorization header (HTTP SCRAM, RFC 7804, or a token) to the hopauth API's /v1/multi,
which answers with the credential's permissions on the topic (Read or Write, or All); {topic}+oversized has the
permissions of {topic}. Answers: 400 bad UUID or request, 401 with WWW-Authenticate (credentials needed, or the
next SCRAM round), 403 not permitted, 404 unknown message.

Options:
  --http-port PORT         port to listen on (default 8080; 0: any free port, logged) [env HTTP_PORT]
  --http-host HOST         address to bind (default 0.0.0.0) [env HTTP_HOST]
  --hopauth-url URL        hopauth REST API, e.g. https://admin.hop.scimma.org/hopauth/api; unset: only public
                           topics can be read and nothing written [env HOPAUTH_API_URL]; with env HOPAUTH_USERNAME
                           and HOPAUTH_PASSWORD (as \`archive\`), hopauth's topic flags decide which topics are public
                           (anonymous reads, uploads' public column) and text-indexed, refreshed every
                           POLICY_REFRESH_SECONDS (default 300) instead of --public-topics
  --max-upload-mib N       largest accepted POST body, 1 to 1024 (default 64; larger: 413) [env MAX_UPLOAD_MIB]
  --upload-timeout SECONDS  time a POST body may take to arrive (default 120; slower: 408)
                           [env UPLOAD_TIMEOUT_SECONDS]
  --read-only              refuse every write (uploads, retractions) with 501 [env READ_ONLY=true|false]
  --cors-origins 'O1 O2'   origins (https://host[:port]) whose browser pages may call the API, with
                           credentials [env CORS_ORIGINS, white-space separated, as archive-api's]
  --cors-origin-regex RE   origins matching RE (whole) may too [env CORS_ORIGIN_REGEX]
${settingsHelp()}

The index must exist at the current schema (\`housekeeping db migrate\`, or start \`archive\` once).

Examples:
  housekeeping serve --http-port 8080 --public-topics 'gcn.circular,lvk\\..*'
  S3_BUCKET=hop-archive DATABASE_URL=postgres://... HOPAUTH_API_URL=https://admin.hop.scimma.org/hopauth/api \\
    housekeeping serve
`,
  async run(argv, ctx) {
    const options = parseServeArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        "http-port": options.httpPort,
        "http-host": options.httpHost,
        "hopauth-url": options.hopAuthUrl ?? null,
        "public-topics": options.publicTopics.entries,
        "max-upload-mib": options.maxUploadBytes / 2 ** 20,
        "upload-timeout": options.uploadTimeoutMs / 1000,
        "read-only": options.readOnly,
        "cors-origins": options.cors.origins,
        "cors-origin-regex": options.cors.regex?.source ?? null,
      });
    }
    const log = commandLogger(options.settings, ctx);
    const store = await openSettingsStore(options.settings, ctx.env, log);
    const idx = await openIndex(options.settings, ctx.env, log, {
      silenceTimeoutSeconds: INDEX_SILENCE_SECONDS,
    }).catch((e) => {
      store.close();
      throw e;
    });
    let policyLoop: Promise<void> | undefined;
    const policyStop = new AbortController();
    try {
      await requireCurrentSchema(idx.index);
      let publicTopics = options.publicTopics;
      const metrics = createMetrics(undefined, { showTopic: (topic) => publicTopics.isPublic(topic) });
      const policy = uploadPolicy(options, log, metrics);
      if (policy !== undefined) {
        publicTopics = { entries: publicTopics.entries, isPublic: (topic) => policy.decide(topic).public };
        void policy.refresh();
        policyLoop = policy.run(AbortSignal.any([ctx.shutdown, policyStop.signal]));
      }
      const hopAuth = options.hopAuthUrl === undefined
        ? noPermissionsService()
        : createHopAuth({ url: options.hopAuthUrl, realm: new URL(options.hopAuthUrl).host, log });
      const ingest = observingIngest(
        createIngest({
          store,
          index: idx.index,
          keyLayout: parseKeyLayout(settingValue(options.settings, "key-layout") ?? "daily"),
          archiverVersion: VERSION,
          log,
          metrics,
          signal: ctx.shutdown,
          putConcurrency: 16,
          maxInflightBytes: 2 * options.maxUploadBytes,
          // archive-api's uploads: direct_upload, public as their topic (a +oversized pseudo-topic as its topic).
          isPublic: (topic) => publicTopics.isPublic(topic),
          ...(policy === undefined ? {} : { indexText: (topic: string) => policy.decide(topic).indexText }),
          directUpload: true,
        }),
        policy,
      );
      const server = await startServer({
        index: idx.index,
        store,
        ingest,
        hopAuth: options.readOnly ? readOnly(hopAuth) : hopAuth,
        listing: createListing(idx.sql),
        multi: options.hopAuthUrl === undefined ? null : createHopAuthMulti({ url: options.hopAuthUrl, log }),
        realm: options.hopAuthUrl === undefined ? "housekeeping" : new URL(options.hopAuthUrl).host,
        cors: options.cors,
        readOnly: options.readOnly,
        publicTopics,
        metrics,
        log,
        maxUploadBytes: options.maxUploadBytes,
        uploadTimeoutMs: options.uploadTimeoutMs,
      }, { hostname: options.httpHost, port: options.httpPort, signal: ctx.shutdown });
      await server.finished;
      log.info("serve stopped");
      return 0;
    } catch (e) {
      // Only Deno.serve raises these: a port in use or an address not ours is one coded line, not a stack.
      throw isListenFailure(e)
        ? listenError(e, {
          hostname: options.httpHost,
          port: options.httpPort,
          portSetting: "--http-port (HTTP_PORT)",
          hostSetting: "--http-host (HTTP_HOST)",
        })
        : e;
    } finally {
      policyStop.abort();
      await policyLoop;
      store.close();
      await idx.close();
    }
  },
};
