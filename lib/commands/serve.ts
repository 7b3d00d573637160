// `serve`: the archive as an HTTP service in scimma/archive-api's dialect (see lib/serve/server.ts): messages by
// UUID, their raw values, topic listings, and the offload endpoint hop-client posts oversized messages to.
import type { Command, CommandContext } from "../cli/command.ts";
import type { BlobStore } from "../store/types.ts";
import type { Index } from "../index/types.ts";
import { INDEX_SILENCE_SECONDS } from "../index/database.ts";
import { createBrowse } from "../index/browse.ts";
import { createWebPages } from "../web/handler.ts";
import { createHeadlines } from "../index/headline.ts";
import { indexTextSearch } from "../web/search.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp, settingValue } from "../cli/config.ts";
import {
  commandLogger,
  type CommandSettings,
  commandSettings,
  openIndex,
  openSettingsStore,
  printConfig,
  requireCurrentSchema,
} from "../cli/services.ts";
import { badValue, LIMITS, type ValueSource } from "../cli/flags.ts";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";
import { createIngest } from "../archive/ingest.ts";
import { parseKeyLayout } from "../format/keys.ts";
import { isListenFailure, listenError } from "../runtime/http.ts";
import { createMetrics } from "../runtime/metrics.ts";
import { createHopAuth, type HopAuth, textResponse } from "../serve/hopauth.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { publicTopicsSetting } from "../cli/services.ts";
import { HOPAUTH_OPTIONS, hopauthCredential, policyRefreshMs } from "../cli/hopauth_settings.ts";
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

// An upload is held whole while it is checked and stored (about three times its size at the peak, and the ingest
// core admits two at once), and one S3 PUT carries it: past 1 GiB a single request is the wrong tool, and a typo
// (65536 for 64) would let one client take the machine's memory.
const UPLOAD_MIB = { min: 1, max: 1024 };

export const SERVE_OPTIONS = {
  "http-port": {
    type: "string",
    arg: "PORT",
    env: "HTTP_PORT",
    default: 8080,
    help: "port to listen on (default {default}; 0: any free port, logged)",
    parse: { int: { min: 0, max: LIMITS.port.max } },
  },
  "http-host": {
    type: "string",
    arg: "HOST",
    env: "HTTP_HOST",
    default: "0.0.0.0",
    help: "address to bind",
    parse: (host: string, source: ValueSource) => {
      if (host === "") throw badValue(source, "--http-host must name an address to bind");
      return host;
    },
  },
  "hopauth-url": {
    type: "string",
    arg: "URL",
    env: "HOPAUTH_API_URL",
    help: [
      "hopauth REST API, e.g. https://admin.hop.scimma.org/hopauth/api; unset: only public",
      "topics can be read and nothing written [env {env}]; with env HOPAUTH_USERNAME",
      "and HOPAUTH_PASSWORD (as `archive`), hopauth's topic flags decide which topics are public",
      "(anonymous reads, uploads' public column) and text-indexed, refreshed every",
      `POLICY_REFRESH_SECONDS (default ${DEFAULT_POLICY_REFRESH_SECONDS}) instead of --public-topics`,
      "(or the credential from --hopauth-auth's auth.toml)",
    ],
    parse: (url: string | undefined, source: ValueSource) => {
      if (url !== undefined && !/^https?:\/\//.test(url)) {
        throw badValue(
          source,
          `--hopauth-url must be an http(s) URL such as https://host/hopauth/api, got "${url}"`,
        );
      }
      return url;
    },
  },
  "hopauth-auth": { ...HOPAUTH_OPTIONS["hopauth-auth"], help: HOPAUTH_OPTIONS["hopauth-auth"].help[0] },
  "max-upload-mib": {
    type: "string",
    arg: "N",
    env: "MAX_UPLOAD_MIB",
    default: 64,
    help:
      `largest accepted POST body, ${UPLOAD_MIB.min} to ${UPLOAD_MIB.max} (default {default}; larger: 413)`,
    parse: { int: UPLOAD_MIB },
  },
  "upload-timeout": {
    type: "string",
    arg: "SECONDS",
    env: "UPLOAD_TIMEOUT_SECONDS",
    default: UPLOAD_TIMEOUT_MS / 1000,
    help: ["time a POST body may take to arrive (default {default}; slower: 408)", ""],
    parse: { int: "timeoutSeconds" },
  },
  "read-only": {
    type: "boolean",
    env: "READ_ONLY",
    help: "refuse every write (uploads, retractions) with 501",
  },
  // archive-api's settings and spelling: origins separated by white space, a regular expression matched whole.
  "cors-origins": {
    type: "string",
    arg: "'O1 O2'",
    env: "CORS_ORIGINS",
    help: [
      "origins (https://host[:port]) whose browser pages may call the API, with",
      "credentials [env {env}, white-space separated, as archive-api's]",
    ],
    parse: (text: string | undefined) => (text ?? "").split(/[\s,]+/).filter((o) => o !== ""),
  },
  "cors-origin-regex": {
    type: "string",
    arg: "RE",
    env: "CORS_ORIGIN_REGEX",
    help: "origins matching RE (whole) may too",
  },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(SERVE_OPTIONS) };

export interface ServeOptions extends CommandSettings {
  /** The options as the table reads them, for --print-config. */
  own: OptionValues<typeof SERVE_OPTIONS>;
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

/** Pure: argv + environment (+ config file text) -> options. */
export function parseServeArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): ServeOptions {
  const { values } = parseCommandArgs("serve", argv, OPTIONS);
  const own = readOptions("serve", SERVE_OPTIONS, values, env);
  const settings = commandSettings(values, env, readConfig);
  const hopAuthUrl = own["hopauth-url"];
  return {
    ...settings,
    own,
    httpPort: own["http-port"],
    httpHost: own["http-host"],
    hopAuthUrl,
    publicTopics: publicTopicsSetting("serve", settings.settings),
    maxUploadBytes: own["max-upload-mib"] * 2 ** 20,
    uploadTimeoutMs: own["upload-timeout"] * 1000,
    readOnly: own["read-only"],
    ...withCredential(
      hopAuthUrl === undefined
        ? undefined
        : hopauthCredential("serve", values, env, settings.settings, false)?.credential,
    ),
    policyRefreshMs: policyRefreshMs("serve", values, env, DEFAULT_POLICY_REFRESH_SECONDS),
    cors: corsPolicy(
      own["cors-origins"],
      own["cors-origin-regex"],
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
    authorizeReads: (_, topics) =>
      Promise.resolve(new Map(topics.map((t) => [t, { ok: false, response: refuse() }]))),
    reachable: () => Promise.resolve(false),
  };
}

/** The offload endpoint of a read-only archive (archive-api's READ_ONLY): every write is refused with 501. */
function readOnly(auth: HopAuth): HopAuth {
  return {
    reachable: auth.reachable,
    authorizeReads: auth.authorizeReads,
    authorize: (header, topic, op) =>
      op === "Write"
        ? Promise.resolve({ ok: false, response: textResponse(501, "Server is configured as read-only") })
        : auth.authorize(header, topic, op),
  };
}

/** The ingest behind uploads: archive-api's direct_upload, public and text-indexed as their topic. */
function uploadIngest(
  options: ServeOptions,
  deps: {
    store: BlobStore;
    index: Index;
    log: Logger;
    metrics: Metrics;
    publicTopics: PublicTopics;
    policy: ReturnType<typeof uploadPolicy>;
  },
  ctx: CommandContext,
) {
  const { store, index, log, metrics, publicTopics, policy } = deps;
  return observingIngest(
    createIngest({
      store,
      index,
      keyLayout: parseKeyLayout(settingValue(options.settings, "key-layout") ?? "daily"),
      archiverVersion: VERSION,
      log,
      metrics,
      signal: ctx.shutdown,
      putConcurrency: 16,
      maxInflightBytes: 2 * options.maxUploadBytes,
      // A +oversized pseudo-topic is public as its topic.
      isPublic: (topic) => publicTopics.isPublic(topic),
      ...(policy === undefined ? {} : { indexText: (topic: string) => policy.decide(topic).indexText }),
      directUpload: true,
    }),
    policy,
  );
}

/** The pages for people under / and /web/ (lib/web/), on the same index, store and permissions as the API. */
function webPages(
  idx: { index: Index; sql: Parameters<typeof createBrowse>[0] },
  deps: { store: BlobStore; hopAuth: HopAuth; publicTopics: PublicTopics; log: Logger },
) {
  return createWebPages({
    index: idx.index,
    browse: createBrowse(idx.sql),
    textSearch: indexTextSearch(idx.index),
    headlines: createHeadlines(idx.sql),
    ...deps,
  });
}

export const command: Command = {
  name: "serve",
  summary:
    "the archive over HTTP as archive-api serves it: messages, raw values, listings, hop-client offload",
  help: `Usage: housekeeping serve [options]

Serves the archive over HTTP in scimma/archive-api's dialect, which hop-client (>= 0.11) and archive-api's users
speak. Objects are sent exactly as stored, values without re-encoding, streamed and checked against the index.
People open / in a browser: topics, messages, search and downloads (sign in with a hop token at /web/signin).

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
${optionsHelp(SERVE_OPTIONS, { column: 27 })}
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
        ...printableOptions(SERVE_OPTIONS, options.own),
        "public-topics": options.publicTopics.entries,
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
      const ingest = uploadIngest(
        options,
        { store, index: idx.index, log, metrics, publicTopics, policy },
        ctx,
      );
      const server = await startServer({
        web: webPages(idx, { store, hopAuth, publicTopics, log }),
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
