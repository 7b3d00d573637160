// The one place that builds kafkajs clients: codecs and our kafkajs patches are installed before any client
// exists, kafkajs's own log lines go to our logger, and connection failures become coded errors that say
// what to fix. Nothing here ever logs or reports the SASL password.
import { Buffer } from "node:buffer";
import {
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel as KafkaLogLevel,
  Partitioners,
  type ProducerConfig,
  type SASLOptions,
} from "kafkajs";
import {
  type ErrorCode,
  errorMessage,
  hkError,
  type HousekeepingError,
  isHkError,
  networkErrorCode,
  UNREACHABLE_CODES,
} from "../runtime/errors.ts";
import type { LogFields, Logger, LogLevel } from "../runtime/log.ts";
import type { TimestampType } from "../format/record.ts";
import { installCodecs } from "./codecs.ts";
import { installKafkajsPatches, retriableProtocolMessages } from "./kafkajs_internals.ts";
import { framedSocketFactory } from "./socket_frames.ts";
import { diagnoseTlsError, hostPort, readCaFile, tlsError, verificationOffWarning } from "../runtime/tls.ts";

export type SecurityProtocol = "PLAINTEXT" | "SASL_PLAINTEXT" | "SASL_SSL" | "SSL";
export type SaslMechanism = "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN";

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  securityProtocol: SecurityProtocol;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  /** PEM file of CA certificates for TLS; without it the system roots are used. */
  caFile?: string;
  /** Retries of a failed connect or request before giving up (kafkajs `retry.retries`, default 5). */
  retries?: number;
  /** TCP connect timeout in ms (kafkajs `connectionTimeout`, default 1000). */
  connectionTimeoutMs?: number;
  /** How long a request may wait for its response, in ms (kafkajs `requestTimeout`, default 30000). */
  requestTimeoutMs?: number;
}

const MECHANISMS: Record<SaslMechanism, "scram-sha-512" | "scram-sha-256" | "plain"> = {
  "SCRAM-SHA-512": "scram-sha-512",
  "SCRAM-SHA-256": "scram-sha-256",
  "PLAIN": "plain",
};

const BROKER_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

function configError(message: string): HousekeepingError {
  return hkError("KAFKA_CONFIG_INVALID", message);
}

/** Replaces every occurrence of the password; applied to all text that leaves this module. */
function scrubber(settings: KafkaSettings): (text: string) => string {
  const password = settings.sasl?.password ?? "";
  return password === "" ? (text) => text : (text) => text.split(password).join("***");
}

function validate(settings: KafkaSettings): void {
  if (settings.brokers.length === 0) {
    throw configError("no Kafka brokers given: set KAFKA_BROKERS (or --brokers) to host:port[,host:port...]");
  }
  for (const broker of settings.brokers) {
    if (!BROKER_PATTERN.test(broker)) {
      throw configError(
        `invalid broker address "${broker}": expected host:port (e.g. kafka.scimma.org:9092)`,
      );
    }
  }
  const wantsSasl = settings.securityProtocol.startsWith("SASL_");
  if (wantsSasl && settings.sasl === undefined) {
    throw configError(
      `security protocol ${settings.securityProtocol} needs SASL credentials: set KAFKA_USERNAME and ` +
        "KAFKA_PASSWORD, or point --hop-auth at a hop auth.toml",
    );
  }
  if (!wantsSasl && settings.sasl !== undefined) {
    throw configError(
      `SASL credentials were given but security protocol ${settings.securityProtocol} does not use them: ` +
        "use SASL_SSL (or SASL_PLAINTEXT), or drop the credentials",
    );
  }
}

function tlsOption(settings: KafkaSettings): boolean | { ca: string[] } {
  if (settings.securityProtocol !== "SSL" && settings.securityProtocol !== "SASL_SSL") return false;
  if (settings.caFile === undefined) return true;
  // Read and checked here, at start-up: a file without a PEM certificate used to surface only as kafkajs
  // retrying "unable to verify the first certificate" on every connection.
  return {
    ca: [
      readCaFile(
        settings.caFile,
        "KAFKA_CA_FILE_UNREADABLE",
        "--ca-file (KAFKA_CA_FILE) or ssl_ca_location in the hop auth.toml",
      ),
    ],
  };
}

function saslOption(settings: KafkaSettings): SASLOptions | undefined {
  if (settings.sasl === undefined) return undefined;
  const { mechanism, username, password } = settings.sasl;
  return { mechanism: MECHANISMS[mechanism], username, password } as SASLOptions;
}

function levelOf(level: KafkaLogLevel): LogLevel | null {
  switch (level) {
    case KafkaLogLevel.ERROR:
      return "error";
    case KafkaLogLevel.WARN:
      return "warn";
    case KafkaLogLevel.INFO:
      return "info";
    case KafkaLogLevel.DEBUG:
      return "debug";
    default:
      return null;
  }
}

// Secrets can reach kafkajs log entries only as strings (messages, stacks) or under these keys.
const SECRET_KEYS = new Set(["password", "sasl", "ssl", "authenticationRequest", "saslAuthenticate"]);

function cleanFields(value: unknown, scrub: (text: string) => string, depth = 0): unknown {
  if (typeof value === "string") return scrub(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (value === null || typeof value !== "object") return value;
  if (depth > 4) return "<nested>";
  if (Array.isArray(value)) return value.map((item) => cleanFields(item, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!SECRET_KEYS.has(key)) out[key] = cleanFields(item, scrub, depth + 1);
  }
  return out;
}

/**
 * The level a kafkajs log entry is logged at: kafkajs's own, except that its connection logs every failed
 * response as an error, also those with a protocol error it retries (a coordinator still loading after a broker
 * starts, a leader election). Those are info: if the retries run out, the caller's error says so.
 */
export function kafkajsEntryLevel(
  namespace: string,
  level: KafkaLogLevel,
  entry: LogEntry["log"],
): LogLevel | null {
  const retried = level === KafkaLogLevel.ERROR && namespace === "Connection" &&
    entry.message.startsWith("Response ") &&
    retriableProtocolMessages.has(String((entry as { error?: unknown }).error));
  return retried ? "info" : levelOf(level);
}

function logCreator(log: Logger, scrub: (text: string) => string) {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const method = kafkajsEntryLevel(namespace, level, entry);
    if (method === null) return;
    const { message, timestamp: _timestamp, ...extra } = entry;
    const fields = cleanFields(extra, scrub) as LogFields;
    log[method](`kafkajs: ${scrub(String(message))}`, { ...fields, kafkaNamespace: namespace });
  };
}

interface ErrorChainLink {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  broker?: unknown;
  cause?: unknown;
  originalError?: unknown;
}

function errorChain(error: unknown): ErrorChainLink[] {
  const chain: ErrorChainLink[] = [];
  let current: unknown = error;
  while (typeof current === "object" && current !== null && chain.length < 10) {
    const link = current as ErrorChainLink;
    chain.push(link);
    current = link.cause ?? link.originalError;
  }
  return chain;
}

/**
 * Turns a kafkajs failure into a coded error that names the broker and the setting to fix:
 * KAFKA_AUTH_FAILED, KAFKA_UNREACHABLE, KAFKA_TLS_FAILED, KAFKA_CONNECTION_CLOSED, else KAFKA_CONNECT_FAILED.
 * Errors that already carry one of our codes pass through unchanged.
 */
export function translateKafkaError(error: unknown, settings: KafkaSettings): HousekeepingError {
  if (isHkError(error)) return error;
  const scrub = scrubber(settings);
  const chain = errorChain(error);
  const text = chain.map((link) => String(link.message ?? "")).filter((m) => m !== "");
  const detail = scrub(text[text.length - 1] ?? errorMessage(error));
  const broker = String(
    chain.find((link) => typeof link.broker === "string")?.broker ?? settings.brokers.join(","),
  );
  const has = (predicate: (link: ErrorChainLink) => boolean) => chain.some(predicate);
  const retriable = (error as { retriable?: unknown }).retriable === true;
  const make = (code: ErrorCode, message: string) =>
    hkError(code, scrub(message), { cause: error, retriable });

  if (has((link) => link.name === "KafkaJSSASLAuthenticationError")) {
    const user = settings.sasl?.username ?? "";
    return hkError(
      "KAFKA_AUTH_FAILED",
      scrub(
        `SASL ${
          settings.sasl?.mechanism ?? ""
        } authentication as "${user}" failed at ${broker}: ${detail}; ` +
          "check KAFKA_USERNAME/KAFKA_PASSWORD (or the credential --hop-auth selects) and --sasl-mechanism",
      ),
      { cause: error, retriable: false },
    );
  }
  if (networkErrorCode(error, UNREACHABLE_CODES) !== undefined) {
    return make(
      "KAFKA_UNREACHABLE",
      `cannot reach broker ${broker}: ${detail}; check KAFKA_BROKERS (--brokers) and that the broker is up`,
    );
  }
  if (has((link) => link.name === "KafkaJSConnectionError" && /timeout/i.test(String(link.message)))) {
    return make(
      "KAFKA_UNREACHABLE",
      `cannot reach broker ${broker}: ${detail}; check KAFKA_BROKERS (--brokers), firewalls, and that the broker is up`,
    );
  }
  const tls = settings.securityProtocol.endsWith("SSL") &&
    tlsError(error, "KAFKA_TLS_FAILED", {
      peer: `broker ${broker}`,
      ...tlsPeer(broker, settings),
      caSetting: "--ca-file (KAFKA_CA_FILE) or ssl_ca_location in the hop auth.toml",
      protocolHint:
        `check that this port is the broker's ${settings.securityProtocol} listener (a PLAINTEXT or ` +
        "SASL_PLAINTEXT port drops a TLS client), or set --security-protocol to what it speaks",
    }, { scrub });
  if (tls) return tls;
  if (has((link) => link.name === "KafkaJSConnectionClosedError" || /closed/i.test(String(link.message)))) {
    return make(
      "KAFKA_CONNECTION_CLOSED",
      `broker ${broker} closed the connection: ${detail}; the listener probably expects another security ` +
        `protocol than ${settings.securityProtocol}: check --security-protocol and the broker port`,
    );
  }
  return make(
    "KAFKA_CONNECT_FAILED",
    `Kafka request to ${broker} failed: ${detail}; check KAFKA_BROKERS, --security-protocol and credentials`,
  );
}

// Where and with which CA diagnoseTlsError may repeat the handshake (createKafka has read the file before).
function tlsPeer(broker: string, settings: KafkaSettings) {
  const address = hostPort(broker);
  let ca: string | undefined;
  try {
    ca = settings.caFile === undefined ? undefined : Deno.readTextFileSync(settings.caFile);
  } catch { /* gone since: the diagnosis then uses the system roots */ }
  return { ...(address ? { address } : {}), ...(ca ? { ca } : {}) };
}

function withCodedConnect<T extends { connect(): Promise<void> }>(client: T, settings: KafkaSettings): T {
  const connect = client.connect.bind(client);
  client.connect = () =>
    connect().catch(async (error: unknown) => {
      throw await diagnoseTlsError(translateKafkaError(error, settings));
    });
  return client;
}

/**
 * A kafkajs client for `settings`, with snappy/lz4/zstd codecs and our kafkajs patches (kafkajs_internals.ts)
 * installed. The connect() of its producers, consumers and admins rejects with coded errors (see
 * translateKafkaError).
 */
export function createKafka(settings: KafkaSettings, log: Logger): Kafka {
  validate(settings);
  installCodecs();
  installKafkajsPatches();
  const scrub = scrubber(settings);
  const sasl = saslOption(settings);
  const unverified = settings.securityProtocol.endsWith("SSL")
    ? verificationOffWarning("Kafka broker's")
    : undefined;
  if (unverified !== undefined) log.warn(unverified);
  const config: KafkaConfig = {
    brokers: settings.brokers,
    clientId: settings.clientId,
    ssl: tlsOption(settings),
    // Each response read in place into one buffer, not gathered in chunks and joined (socket_frames.ts).
    socketFactory: framedSocketFactory() as unknown as NonNullable<KafkaConfig["socketFactory"]>,
    logLevel: KafkaLogLevel.INFO,
    logCreator: logCreator(log, scrub),
    ...(sasl === undefined ? {} : { sasl }),
    ...(settings.connectionTimeoutMs === undefined
      ? {}
      : { connectionTimeout: settings.connectionTimeoutMs }),
    ...(settings.requestTimeoutMs === undefined ? {} : { requestTimeout: settings.requestTimeoutMs }),
    ...(settings.retries === undefined ? {} : { retry: { retries: settings.retries } }),
  };
  const kafka = new Kafka(config);
  const producer = kafka.producer.bind(kafka);
  const consumer = kafka.consumer.bind(kafka);
  const admin = kafka.admin.bind(kafka);
  // kafkajs warns on every producer that its default partitioner changed in 2.0; choosing it explicitly
  // says we know (nothing here relies on partitioning by key the 1.x way).
  kafka.producer = (options?: ProducerConfig) =>
    withCodedConnect(producer({ createPartitioner: Partitioners.DefaultPartitioner, ...options }), settings);
  kafka.consumer = (options) => withCodedConnect(consumer(options), settings);
  kafka.admin = (options) => withCodedConnect(admin(options), settings);
  return kafka;
}

/** The kafkajs message fields that carry the timestamp type (not in kafkajs's typings). */
export interface TimestampSource {
  magicByte?: number;
  attributes?: number;
  batchContext?: { timestampType?: number };
}

/**
 * CreateTime or LogAppendTime, from the record batch attributes (magic 2) or the message attributes
 * (magic 1); null where the format has no timestamp (magic 0).
 */
export function messageTimestampType(message: TimestampSource): TimestampType | null {
  const fromBatch = message.batchContext?.timestampType;
  if (fromBatch !== undefined) {
    return fromBatch === 1 ? "LogAppendTime" : fromBatch === 0 ? "CreateTime" : null;
  }
  if (message.magicByte === 1 && message.attributes !== undefined) {
    return (message.attributes & 0x08) !== 0 ? "LogAppendTime" : "CreateTime";
  }
  return null;
}
