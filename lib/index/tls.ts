// libpq's TLS settings for postgres.js: `sslmode` and `sslrootcert` in the URL, else PGSSLMODE and PGSSLROOTCERT.
// postgres.js reads sslmode from the URL only, verifies against the system roots only, and would send an
// sslrootcert query parameter to the server as a run-time setting (which the server refuses), so both are taken
// out of the URL here and turned into its `ssl` option.
import { hkError } from "../runtime/errors.ts";
import { readCaFile } from "../runtime/tls.ts";

export interface IndexTls {
  /** The URL without sslmode/sslrootcert; undefined when there was none. */
  url: string | undefined;
  /** postgres.js's `ssl`: false, a mode it knows, or tls.connect options that verify. */
  ssl: false | "require" | "prefer" | "allow" | { ca?: string; checkServerIdentity?: () => undefined };
  /** Set when the chosen mode does not verify everything: log it. */
  warning?: string;
}

const MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const CA_SETTING = "sslrootcert in DATABASE_URL (or PGSSLROOTCERT)";

// The query string only: URL() refuses postgres.js's multi-host form (postgres://u:p@h1:5432,h2:5432/db).
function splitUrl(url: string | undefined): { url: string | undefined; mode?: string; rootCert?: string } {
  const at = url?.indexOf("?") ?? -1;
  if (url === undefined || at < 0) return { url };
  const query = new URLSearchParams(url.slice(at + 1));
  const mode = query.get("sslmode") ?? undefined;
  const rootCert = query.get("sslrootcert") ?? undefined;
  if (mode === undefined && rootCert === undefined) return { url };
  query.delete("sslmode");
  query.delete("sslrootcert");
  const rest = query.toString();
  return {
    url: url.slice(0, at) + (rest === "" ? "" : `?${rest}`),
    ...(mode ? { mode } : {}),
    ...(rootCert ? { rootCert } : {}),
  };
}

/** The TLS part of an index connection, libpq's way: the URL wins over the environment. */
export function indexTls(url: string | undefined, env: Record<string, string | undefined>): IndexTls {
  const split = splitUrl(url);
  const mode = split.mode ?? env.PGSSLMODE;
  const rootCert = split.rootCert ?? env.PGSSLROOTCERT;
  if (mode === undefined || mode === "disable") return { url: split.url, ssl: false };
  if (!MODES.includes(mode)) {
    throw hkError(
      "INDEX_CONFIG_INVALID",
      `sslmode "${mode}" is not one of ${MODES.join(", ")}; fix sslmode in DATABASE_URL (or PGSSLMODE)`,
    );
  }
  // "system" is libpq's word for the system roots, which is what no CA option means to tls.connect.
  const ca = rootCert === undefined || rootCert === "system"
    ? {}
    : { ca: readCaFile(rootCert, "INDEX_CONFIG_INVALID", CA_SETTING) };
  if (mode === "verify-full") return { url: split.url, ssl: ca };
  // libpq: with a root certificate at hand, require verifies the chain as verify-ca does.
  if (mode === "verify-ca" || (mode === "require" && "ca" in ca)) {
    return {
      url: split.url,
      ssl: { ...ca, checkServerIdentity: () => undefined },
      warning:
        `sslmode=${mode}: the PostgreSQL server's certificate chain is verified but not its host name; ` +
        "use sslmode=verify-full unless the certificate cannot name the host",
    };
  }
  return {
    url: split.url,
    ssl: mode as "require" | "prefer" | "allow",
    warning:
      `sslmode=${mode}: the connection to PostgreSQL is not protected against a server impersonating it ` +
      `(its certificate is not verified); use sslmode=verify-full, with ${CA_SETTING} for a private CA`,
  };
}
