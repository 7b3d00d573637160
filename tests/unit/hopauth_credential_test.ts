// The hopauth credential from a hop auth.toml (tests/testdata/hop_auth, written by the real `hop auth add`): the
// entry hop-client would use for the Kafka broker, chosen by --hopauth-username among several; a file that cannot
// give one stops start-up with one coded line that names the file and never shows a password.
import assert from "node:assert/strict";
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { parseDbArgs } from "../../lib/commands/db.ts";
import { parseServeArgs } from "../../lib/commands/serve.ts";
import { parseTopicsArgs } from "../../lib/commands/topics.ts";

const API = "https://admin.hop.scimma.org/hopauth/api";
const FIXTURE = new URL("../testdata/hop_auth/three_hosts.toml", import.meta.url).pathname;
const PASSWORDS = ["fixture-pw-kafka", "fixture-pw-256", "fixture-pw-any"];

const env = (extra: Record<string, string>) => ({
  HOPAUTH_API_URL: API,
  HOPAUTH_AUTH_FILE: FIXTURE,
  ...extra,
});

function coded(code: string, pattern: RegExp) {
  return (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), "one line");
    for (const p of PASSWORDS) assert.ok(!e.message.includes(p), `a password leaked: ${e.message}`);
    return true;
  };
}

Deno.test("hopauth credential: the auth.toml entry hop-client uses for the broker", () => {
  const exact = parseArchiveArgs([], env({ KAFKA_BROKERS: "127.0.0.1:9092" }), () => "");
  assert.deepEqual(exact.hopauth?.credential, { username: "kafka-user", password: "fixture-pw-kafka" });
  assert.equal(exact.hopauth?.credentialSource, `${FIXTURE} (username "kafka-user")`);
  // No entry names this broker: the one without a hostname serves any, as in hop-client.
  const any = parseTopicsArgs([], env({ KAFKA_BROKERS: "kafka.scimma.org:9092" }), () => "");
  assert.equal(any.hopauth?.credential.username, "anywhere");
  // --hopauth-username picks among the entries as kafka://user@host does for hop-client.
  const chosen = parseArchiveArgs(
    ["--hopauth-username", "anywhere", "--brokers", "127.0.0.1:9092"],
    env({}),
    () => "",
  );
  assert.equal(chosen.hopauth?.credential.password, "fixture-pw-any");
  // `db index-text` and `serve` read the same setting.
  const db = parseDbArgs(["index-text"], env({ KAFKA_BROKERS: "127.0.0.1:9092" }), () => "");
  assert.equal(db.indexText.policy.hopauth?.credential.username, "kafka-user");
  const serve = parseServeArgs([], env({ KAFKA_BROKERS: "127.0.0.1:9092" }), () => "");
  assert.equal(serve.hopauthCredential?.username, "kafka-user");
});

Deno.test("hopauth credential: HOPAUTH_USERNAME and HOPAUTH_PASSWORD come first, as for archive-core", () => {
  const o = parseArchiveArgs([], env({ HOPAUTH_USERNAME: "ops", HOPAUTH_PASSWORD: "pw" }), () => "");
  assert.deepEqual(o.hopauth?.credential, { username: "ops", password: "pw" });
  assert.equal(o.hopauth?.credentialSource, "HOPAUTH_USERNAME and HOPAUTH_PASSWORD");
});

Deno.test("hopauth credential: serve reads an auth.toml only when told to", () => {
  const home = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${home}/hop`);
    Deno.copyFileSync(FIXTURE, `${home}/hop/auth.toml`);
    Deno.chmodSync(`${home}/hop/auth.toml`, 0o600); // git checks files out 0644
    const base = { HOPAUTH_API_URL: API, XDG_CONFIG_HOME: home, KAFKA_BROKERS: "127.0.0.1:9092" };
    assert.equal(parseServeArgs([], base, () => "").hopauthCredential, undefined);
    // archive needs a credential with --hopauth-url: hop's default location is read, as hop-client reads it.
    const archive = parseArchiveArgs([], base, () => "");
    assert.equal(archive.hopauth?.credential.username, "kafka-user");
    assert.equal(archive.hopauth?.warnings, undefined, "a 0600 file raises no warning");
    // hop-client refuses a file others can read; like the Kafka credential's, this one is used with a warning.
    Deno.chmodSync(`${home}/hop/auth.toml`, 0o644);
    const loose = parseArchiveArgs([], base, () => "").hopauth?.warnings ?? [];
    assert.match(loose.join("\n"), /has mode 0644: other users may read the password in it; run `chmod 600/);
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
});

Deno.test("hopauth credential: a file that cannot give one stops start-up, naming the file and the fix", () => {
  // The entry for this broker is SCRAM-SHA-256: hopauth speaks SCRAM-SHA-512 only.
  assert.throws(
    () => parseArchiveArgs([], env({ KAFKA_BROKERS: "localhost:9092" }), () => ""),
    coded("HOP_AUTH_INVALID", /three_hosts\.toml: credential "local-256" uses SCRAM-SHA-256.*SCRAM-SHA-512/),
  );
  assert.throws(
    () =>
      parseArchiveArgs(["--hopauth-username", "nobody"], env({ KAFKA_BROKERS: "127.0.0.1:9092" }), () => ""),
    coded("HOP_AUTH_NOT_FOUND", /three_hosts\.toml.*HOPAUTH_USERNAME and HOPAUTH_PASSWORD/),
  );
  assert.throws(
    () => parseArchiveArgs([], env({ HOPAUTH_AUTH_FILE: "/nonexistent/auth.toml" }), () => ""),
    coded("HOP_AUTH_NOT_FOUND", /\/nonexistent\/auth\.toml does not exist; fix --hopauth-auth/),
  );
  const dir = Deno.makeTempDirSync();
  try {
    const broken = `${dir}/auth.toml`;
    Deno.writeTextFileSync(broken, '[[auth]]\nusername = "u"\npassword = "fixture-pw-any\n');
    assert.throws(
      () => parseTopicsArgs([], env({ HOPAUTH_AUTH_FILE: broken }), () => ""),
      coded("HOP_AUTH_INVALID", /auth\.toml: .*line 3.*--hopauth-auth \(HOPAUTH_AUTH_FILE\)/),
    );
    Deno.writeTextFileSync(broken, '[[auth]]\nusername = "u"\n');
    assert.throws(
      () => parseDbArgs(["index-text"], env({ HOPAUTH_AUTH_FILE: broken }), () => ""),
      coded("HOP_AUTH_INVALID", /credential #1 \(username "u"\) has no password/),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
