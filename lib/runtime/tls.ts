// What went wrong in a TLS handshake, in words that say what to fix; shared by Kafka, S3 and PostgreSQL so that
// the same certificate problem reads the same on every wire. Node's verification codes are the input (Deno's
// node:tls keeps most, but see diagnoseTlsError); the private CA file each ecosystem names (KAFKA_CA_FILE /
// ssl_ca_location, AWS_CA_BUNDLE, sslrootcert / PGSSLROOTCERT) is the usual fix.
import { type ErrorCode, errorMessage, hkError, type HousekeepingError, isHkError } from "./errors.ts";

export type TlsProblem = "unknown-ca" | "expired" | "host-mismatch" | "handshake";

const UNKNOWN_CA = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
const HOST_MISMATCH = new Set(["ERR_TLS_CERT_ALTNAME_INVALID"]);
// A peer that does not speak TLS: it resets or closes the connection at our ClientHello, or answers in plain text.
const HANDSHAKE_TEXT =
  /before secure TLS connection|wrong version number|packet length|handshake|\b(ssl|tls)\b/i;

interface Link {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  originalError?: unknown;
}

function links(error: unknown): Link[] {
  const out: Link[] = [];
  let current: unknown = error;
  while (typeof current === "object" && current !== null && out.length < 10) {
    out.push(current as Link);
    current = (current as Link).cause ?? (current as Link).originalError;
  }
  return out;
}

/** The TLS problem behind `error` (anywhere in its cause chain), or null when it is not a TLS failure. */
export function tlsProblem(error: unknown): { problem: TlsProblem; detail: string } | null {
  const chain = links(error);
  for (const link of chain) {
    const code = typeof link.code === "string" ? link.code : "";
    const detail = `${code}: ${String(link.message ?? "")}`;
    if (UNKNOWN_CA.has(code)) return { problem: "unknown-ca", detail };
    if (EXPIRED.has(code)) return { problem: "expired", detail };
    if (HOST_MISMATCH.has(code)) return { problem: "host-mismatch", detail };
  }
  const handshake = chain.find((link) => HANDSHAKE_TEXT.test(String(link.message ?? "")));
  return handshake === undefined ? null : { problem: "handshake", detail: String(handshake.message) };
}

export interface TlsAdvice {
  /** "broker 127.0.0.1:9093", "S3 endpoint https://...", "PostgreSQL 10.0.0.5:5432". */
  peer: string;
  /** The settings that name a private CA, e.g. "--ca-file (KAFKA_CA_FILE) or ssl_ca_location in auth.toml". */
  caSetting: string;
  /** What to check when the peer does not speak TLS at all. */
  protocolHint: string;
  /** Where the peer listens, for diagnoseTlsError; host:port text or parts. */
  address?: { hostname: string; port: number };
  /** The PEM CA the client trusted (none: the system roots). */
  ca?: string;
}

interface TlsErrorFields {
  tls?: { problem: TlsProblem; advice: TlsAdvice };
}

/** One line: what failed and what to fix. */
export function tlsMessage(problem: TlsProblem, detail: string, advice: TlsAdvice): string {
  const { peer, caSetting, protocolHint } = advice;
  switch (problem) {
    case "unknown-ca":
      return `TLS with ${peer} failed: its certificate is not signed by a CA this program trusts (${detail}); ` +
        `point ${caSetting} at the PEM file of the CA that signed it`;
    case "expired":
      return `TLS with ${peer} failed: its certificate has expired or is not yet valid (${detail}); renew the ` +
        "server's certificate (or correct this machine's clock)";
    case "host-mismatch":
      return `TLS with ${peer} failed: its certificate is not valid for the host name used (${detail}); connect ` +
        "by a name the certificate lists, or have the certificate reissued for this name";
    case "handshake":
      return `TLS with ${peer} failed: ${detail}; ${protocolHint}`;
  }
}

/** The PEM text of a CA file; `code` and `setting` name the error and what to fix. */
export function readCaFile(path: string, code: ErrorCode, setting: string): string {
  try {
    const text = Deno.readTextFileSync(path);
    if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return text;
  } catch (error) {
    throw hkError(code, `cannot use the CA file ${path}: ${errorMessage(error)}; fix ${setting}`, {
      cause: error,
    });
  }
}

/**
 * A coded error for a TLS failure, or null when `error` is not one. `certificatesOnly`: leave failed handshakes
 * (resets, closed sockets) to the caller, whose outage handling knows them as network errors.
 */
export function tlsError(
  error: unknown,
  code: ErrorCode,
  advice: TlsAdvice,
  options: { scrub?: (text: string) => string; certificatesOnly?: boolean } = {},
): HousekeepingError | null {
  const found = tlsProblem(error);
  if (found === null || (options.certificatesOnly && found.problem === "handshake")) return null;
  const scrub = options.scrub ?? ((text: string) => text);
  // A certificate problem stays until someone fixes it; a failed handshake may be a listener still starting.
  const retriable = found.problem === "handshake";
  const coded = hkError(code, scrub(tlsMessage(found.problem, found.detail, advice)), {
    cause: error,
    retriable,
  });
  return Object.assign(coded, { tls: { problem: found.problem, advice } } satisfies TlsErrorFields);
}

// rustls's reasons, as Deno's own TLS reports them.
const RUSTLS_REASONS: [RegExp, TlsProblem][] = [
  [/expired|not valid (after|before)|NotValidYet/i, "expired"],
  [/not valid for name|NotValidForName/i, "host-mismatch"],
  [/UnknownIssuer|unknown issuer|BadSignature/i, "unknown-ca"],
];

/**
 * Deno's node:tls reports every rejected certificate as UNABLE_TO_VERIFY_LEAF_SIGNATURE, expired or for another
 * host alike. For such an error, one handshake with Deno's own TLS (same peer, same CA) finds the real reason and
 * the error is rewritten with it; any other error comes back unchanged. Start-up paths only: it connects once more.
 */
export async function diagnoseTlsError(
  error: unknown,
  peer: Pick<TlsAdvice, "address" | "ca"> & {
    /** For protocols that switch to TLS on request (PostgreSQL): asks for it on the plain connection. */
    startTls?: (conn: Deno.TcpConn) => Promise<Deno.TcpConn>;
  } = {},
): Promise<unknown> {
  const tls = (error as TlsErrorFields | undefined)?.tls;
  const address = peer.address ?? tls?.advice.address;
  const ca = peer.ca ?? tls?.advice.ca;
  if (!isHkError(error) || tls?.problem !== "unknown-ca" || address === undefined) return error;
  let reason = "";
  try {
    const options = { hostname: address.hostname, ...(ca ? { caCerts: [ca] } : {}) };
    const conn = peer.startTls === undefined
      ? await Deno.connectTls({ ...options, port: address.port })
      : await Deno.startTls(await peer.startTls(await Deno.connect(address)), options);
    try {
      await conn.handshake();
    } finally {
      conn.close();
    }
  } catch (probe) {
    reason = errorMessage(probe);
  }
  const found = RUSTLS_REASONS.find(([pattern]) => pattern.test(reason));
  if (found === undefined || found[1] === "unknown-ca") return error;
  const coded = hkError(error.code, tlsMessage(found[1], reason, tls.advice), { cause: error.cause });
  return Object.assign(coded, { tls: { problem: found[1], advice: tls.advice } } satisfies TlsErrorFields);
}

/** host:port (IPv6 in brackets) as connectTls wants it; undefined when the text is not one. */
export function hostPort(text: string): { hostname: string; port: number } | undefined {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  return match === null ? undefined : { hostname: match[1]!, port: Number(match[2]) };
}

/**
 * Node's switch that turns certificate verification off for every TLS client in the process, which Deno honours
 * too: allowed as an explicit opt-out, never silently. The warning for `wire`, or undefined when it is not set.
 */
export function verificationOffWarning(wire: string): string | undefined {
  if (Deno.env.get("NODE_TLS_REJECT_UNAUTHORIZED") !== "0") return undefined;
  return `NODE_TLS_REJECT_UNAUTHORIZED=0: the ${wire} certificate and host name are NOT verified, so anyone on ` +
    "the path can impersonate the server; unset it and give the private CA instead (--ca-file, AWS_CA_BUNDLE, " +
    "sslrootcert)";
}
