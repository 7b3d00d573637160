// The hopauth settings of `archive` and `topics`: the same --hopauth-url / HOPAUTH_API_URL as `serve`, archive-core's
// HOPAUTH_USERNAME and HOPAUTH_PASSWORD (the password only from the environment), and the refresh period.
import assert from "node:assert/strict";
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { parseTopicsArgs } from "../../lib/commands/topics.ts";

const URL = "https://admin.hop.scimma.org/hopauth/api";
const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

Deno.test("archive: without --hopauth-url the static policy; with it, the credential and archive-core's 300 s", () => {
  const plain = parseArchiveArgs([], {}, () => "");
  assert.equal(plain.hopauth, undefined);
  assert.equal(plain.policyRefreshMs, 300_000);
  const env = { HOPAUTH_API_URL: `${URL}/`, HOPAUTH_USERNAME: "archiver", HOPAUTH_PASSWORD: "pw" };
  const o = parseArchiveArgs(["--policy-refresh", "2"], env, () => "");
  assert.deepEqual(o.hopauth, {
    url: URL,
    credential: { username: "archiver", password: "pw" },
    credentialSource: "HOPAUTH_USERNAME and HOPAUTH_PASSWORD",
  });
  assert.equal(o.policyRefreshMs, 2000);
  const flagged = parseArchiveArgs(["--hopauth-url", URL, "--hopauth-username", "other"], env, () => "");
  assert.equal(flagged.hopauth?.credential.username, "other");
  assert.equal(parseTopicsArgs([], env, () => "").hopauth?.url, URL);
});

Deno.test("archive: hopauth settings that cannot work stop start-up with one coded line", () => {
  const env = { HOPAUTH_USERNAME: "archiver", HOPAUTH_PASSWORD: "pw" };
  assert.throws(() => parseArchiveArgs(["--hopauth-url", "ftp://x/api"], env, () => ""), code("USAGE"));
  assert.throws(() => parseArchiveArgs(["--hopauth-url", "not a url"], env, () => ""), code("USAGE"));
  // A password in the URL would be printed with it: the password belongs in HOPAUTH_PASSWORD.
  assert.throws(
    () => parseArchiveArgs([], { ...env, HOPAUTH_API_URL: "https://u:p@host/api" }, () => ""),
    code("CONFIG_INVALID"),
  );
  assert.throws(
    () => parseArchiveArgs(["--hopauth-url", URL], { HOPAUTH_PASSWORD: "pw" }, () => ""),
    code("USAGE"),
  );
  assert.throws(
    () => parseArchiveArgs(["--hopauth-url", URL], { HOPAUTH_USERNAME: "archiver" }, () => ""),
    (e: Error & { code?: string }) => e.code === "CONFIG_INVALID" && /HOPAUTH_PASSWORD/.test(e.message),
  );
  for (const bad of ["0", "-1", "x", "86401"]) {
    assert.throws(
      () => parseArchiveArgs(["--policy-refresh", bad], {}, () => ""),
      code("USAGE"),
      bad,
    );
  }
});
