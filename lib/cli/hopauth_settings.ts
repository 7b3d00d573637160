// The hopauth settings `archive`, `topics`, `status` and `db index-text` share: the API root (the same --hopauth-url /
// HOPAUTH_API_URL as `serve`) and the credential: archive-core's HOPAUTH_USERNAME and HOPAUTH_PASSWORD, else the
// entry of a hop auth.toml that hop-client itself would use. hop-client signs its HTTP requests (hop/io.py:
// SCRAMAuth) with the credential it chose for the Kafka broker (select_matching_auth), so that is the entry taken
// here, from --hopauth-auth, else the file --hop-auth names, else hop's default location. The password comes only
// from the environment or that file: a flag would show it in `ps`.
import { badValue, flagOrEnv, intInRange, LIMITS, usageError } from "./flags.ts";
import type { OptionTable } from "./options.ts";
import { type ResolvedSettings, settingValue } from "./config.ts";
import { hkError } from "../runtime/errors.ts";
import type { ScramCredential } from "../hopauth/scram.ts";
import { type HopAuthReader, loadHopAuthSync } from "../kafka/auth_toml.ts";

/** The options `archive`, `topics`, `status` and `db` share, in their option tables (lib/cli/options.ts). */
export const HOPAUTH_OPTIONS = {
  "hopauth-url": {
    type: "string",
    arg: "URL",
    help: [
      "take the topic policy from hopauth (scimma-admin's REST API, e.g.",
      "https://admin.hop.scimma.org/hopauth/api) as archive-core does: a topic is archived only",
      "when hopauth marks it archivable (and it is readable and not vetoed), public when",
      "publicly_readable, its text indexed when index_archived_text; --public-topics and",
      "--index-text are then ignored",
    ],
    env: "HOPAUTH_API_URL",
  },
  "hopauth-username": {
    type: "string",
    arg: "NAME",
    help: [
      "hopauth credential; its password from env HOPAUTH_PASSWORD, else from the hop",
      "auth.toml entry of that username",
    ],
    env: "HOPAUTH_USERNAME",
  },
  "hopauth-auth": {
    type: "string",
    arg: "FILE",
    help: [
      "hop auth.toml to take the hopauth credential from when HOPAUTH_PASSWORD is unset",
      "(default: the --hop-auth file, else hop's ~/.config/hop/auth.toml); the entry is the one",
      "hop-client would use for the first --brokers server",
      "",
    ],
    env: "HOPAUTH_AUTH_FILE",
  },
} as const satisfies OptionTable;

export interface HopauthSettings {
  url: string;
  credential: ScramCredential;
  /** Where the credential came from, for --print-config and logs: never the password. */
  credentialSource: string;
  /** What to tell the operator about the auth.toml (loose permissions), logged when the policy is made. */
  warnings?: string[];
}

/** hopauth speaks SCRAM-SHA-512 only (hop-client's SCRAMAuth sends the entry's mechanism). */
const HOPAUTH_MECHANISM = "SCRAM-SHA-512";

/** The hopauth settings of `command`, or undefined without --hopauth-url (the static policy). */
export function hopauthSettings(
  command: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  settings: ResolvedSettings,
): HopauthSettings | undefined {
  const [urlSource, url] = flagOrEnv(command, "hopauth-url", values, env, HOPAUTH_OPTIONS["hopauth-url"].env);
  if (url === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch { /* refused below */ }
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password) {
    throw badValue(
      urlSource,
      `--hopauth-url must be an http(s) URL without a user or password, such as https://host/hopauth/api`,
    );
  }
  return { url: url.replace(/\/+$/, ""), ...hopauthCredential(command, values, env, settings, true)! };
}

/**
 * The hopauth credential: HOPAUTH_USERNAME (or --hopauth-username) with HOPAUTH_PASSWORD, else hop-client's entry
 * in the auth.toml. `required`: none is a usage error; otherwise (`serve`) only an explicit --hopauth-auth is read,
 * so that a personal auth.toml does not switch a server's uploads to hopauth's flags unasked.
 */
export function hopauthCredential(
  command: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  settings: ResolvedSettings,
  required: boolean,
): Omit<HopauthSettings, "url"> | undefined {
  const [, username] = flagOrEnv(command, "hopauth-username", values, env, "HOPAUTH_USERNAME");
  const password = env.HOPAUTH_PASSWORD || undefined;
  if (password !== undefined) {
    if (username === undefined) {
      throw usageError(
        command,
        "HOPAUTH_PASSWORD needs its username: --hopauth-username or HOPAUTH_USERNAME",
      );
    }
    return { credential: { username, password }, credentialSource: "HOPAUTH_USERNAME and HOPAUTH_PASSWORD" };
  }
  const [, ownFile] = flagOrEnv(command, "hopauth-auth", values, env, "HOPAUTH_AUTH_FILE");
  if (!required && ownFile === undefined) {
    if (username !== undefined) {
      throw hkError("CONFIG_INVALID", "set both HOPAUTH_USERNAME and HOPAUTH_PASSWORD, or neither");
    }
    return undefined;
  }
  const fromAuthToml = authTomlCredential(ownFile, env, settings, username);
  if (fromAuthToml !== undefined) return fromAuthToml;
  if (username === undefined) {
    throw usageError(
      command,
      "--hopauth-url needs a hopauth credential: HOPAUTH_USERNAME and HOPAUTH_PASSWORD, or a hop auth.toml " +
        "(--hopauth-auth FILE, or hop's ~/.config/hop/auth.toml)",
    );
  }
  throw hkError(
    "CONFIG_INVALID",
    `--hopauth-url needs the password of hopauth credential "${username}" in HOPAUTH_PASSWORD ` +
      "(or a hop auth.toml with its entry: --hopauth-auth FILE)",
  );
}

function authTomlCredential(
  ownFile: string | undefined,
  env: Record<string, string | undefined>,
  settings: ResolvedSettings,
  username: string | undefined,
): Omit<HopauthSettings, "url"> | undefined {
  const reader: HopAuthReader = {
    fileSetting: ownFile !== undefined
      ? "--hopauth-auth (HOPAUTH_AUTH_FILE)"
      : "--hopauth-auth or --hop-auth",
    otherwise: "set HOPAUTH_USERNAME and HOPAUTH_PASSWORD",
  };
  const brokers = (settingValue(settings, "brokers") ?? "").split(",").map((b) => b.trim()).filter(Boolean);
  const hop = loadHopAuthSync({
    path: ownFile ?? settingValue(settings, "hop-auth"),
    env,
    brokers,
    username,
    reader,
  });
  if (hop === null) return undefined;
  const { entry, path, warnings } = hop;
  if (entry.mechanism !== HOPAUTH_MECHANISM) {
    throw hkError(
      "HOP_AUTH_INVALID",
      `${path}: credential "${entry.username}" uses ${entry.mechanism}, but hopauth speaks ${HOPAUTH_MECHANISM} ` +
        `only; set its mechanism to ${HOPAUTH_MECHANISM} or name another file with ${reader.fileSetting}`,
    );
  }
  return {
    credential: { username: entry.username, password: entry.password },
    credentialSource: `${path} (username "${entry.username}")`,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** --policy-refresh / POLICY_REFRESH_SECONDS: archive-core's 300 s unless told. */
export function policyRefreshMs(
  command: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  fallbackSeconds: number,
): number {
  const [source, text] = flagOrEnv(command, "policy-refresh", values, env, "POLICY_REFRESH_SECONDS");
  return intInRange(source, text, LIMITS.topicRefreshSeconds, fallbackSeconds) * 1000;
}
