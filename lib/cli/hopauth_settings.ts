// The hopauth settings `archive` and `topics` share: the API root (the same --hopauth-url / HOPAUTH_API_URL as
// `serve`), and the credential archive-core reads, HOPAUTH_USERNAME and HOPAUTH_PASSWORD. The password comes only
// from the environment: a flag would show it in `ps`.
import { badValue, flagOrEnv, intInRange, LIMITS, usageError } from "./flags.ts";
import type { OptionTable } from "./options.ts";
import { hkError } from "../runtime/errors.ts";
import type { ScramCredential } from "../hopauth/scram.ts";

/** The options `archive` and `topics` share, in their option tables (lib/cli/options.ts). */
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
    help: ["hopauth credential; its password only from env HOPAUTH_PASSWORD", ""],
    env: "HOPAUTH_USERNAME",
  },
} as const satisfies OptionTable;

export interface HopauthSettings {
  url: string;
  credential: ScramCredential;
}

/** The hopauth settings of `command`, or undefined without --hopauth-url (the static policy). */
export function hopauthSettings(
  command: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
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
  const [, username] = flagOrEnv(
    command,
    "hopauth-username",
    values,
    env,
    HOPAUTH_OPTIONS["hopauth-username"].env,
  );
  const password = env.HOPAUTH_PASSWORD;
  if (username === undefined) {
    throw usageError(
      command,
      "--hopauth-url needs a hopauth credential: --hopauth-username or HOPAUTH_USERNAME",
    );
  }
  if (password === undefined || password === "") {
    throw hkError(
      "CONFIG_INVALID",
      `--hopauth-url needs the password of hopauth credential "${username}" in HOPAUTH_PASSWORD`,
    );
  }
  return { url: url.replace(/\/+$/, ""), credential: { username, password } };
}

/**
 * archive-core's HOPAUTH_USERNAME and HOPAUTH_PASSWORD, for a command that may go without (`serve`: without them
 * its uploads keep --public-topics); one without the other cannot be meant.
 */
export function credentialFromEnv(env: Record<string, string | undefined>): ScramCredential | undefined {
  const username = env.HOPAUTH_USERNAME || undefined;
  const password = env.HOPAUTH_PASSWORD || undefined;
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined) {
    throw hkError("CONFIG_INVALID", "set both HOPAUTH_USERNAME and HOPAUTH_PASSWORD, or neither");
  }
  return { username, password };
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
