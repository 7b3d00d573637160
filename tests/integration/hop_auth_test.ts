import assert from "node:assert/strict";
import {
  defaultHopAuthPath,
  type HopAuthEntry,
  loadHopAuth,
  parseHopAuth,
  selectHopAuth,
} from "../../lib/kafka/auth_toml.ts";
import { pythonBin, runPython } from "../support/helpers.ts";

const SECRET = "pa55-Never-Show-Me";

/** A fresh config home with hop/auth.toml (mode 0600 unless told) holding `text`. */
async function configHome(text: string | null, mode = 0o600, file = "auth.toml") {
  const home = await Deno.makeTempDir({ prefix: "hop-auth-test-" });
  await Deno.mkdir(`${home}/hop`);
  const path = `${home}/hop/${file}`;
  if (text !== null) {
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, mode);
  }
  return {
    home,
    path,
    env: { XDG_CONFIG_HOME: home },
    cleanup: () => Deno.remove(home, { recursive: true }),
  };
}

function assertCodedWithoutSecret(code: string, pattern?: RegExp) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes(SECRET), `the password leaked: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

const TWO_HOSTS = `
[[auth]]
username = "scimma-user"
password = "${SECRET}"
protocol = "SASL_SSL"
mechanism = "SCRAM-SHA-512"
hostname = "kafka.scimma.org"
ssl_ca_location = "/etc/ssl/scimma.pem"

[[auth]]
username = "local-user"
password = "${SECRET}-2"
protocol = "SASL_PLAINTEXT"
mechanism = "SCRAM_SHA_256"
hostname = "127.0.0.1:19093"
ssl_ca_location = "/ignored/for/plaintext.pem"

[[auth]]
username = "anywhere"
password = "${SECRET}-3"
`;

Deno.test("[[auth]] entries are selected by broker hostname the way hop-client does", async () => {
  const dir = await configHome(TWO_HOSTS);
  try {
    const scimma = await loadHopAuth({ env: dir.env, brokers: ["kafka.scimma.org:9092", "other:9092"] });
    assert.deepEqual(scimma, {
      path: dir.path,
      warnings: [],
      entry: {
        username: "scimma-user",
        password: SECRET,
        protocol: "SASL_SSL",
        mechanism: "SCRAM-SHA-512",
        hostname: "kafka.scimma.org",
        sslCaLocation: "/etc/ssl/scimma.pem",
      },
    });
    const local = await loadHopAuth({ env: dir.env, brokers: ["127.0.0.1:19093"] });
    assert.deepEqual(local?.entry, {
      username: "local-user",
      password: `${SECRET}-2`,
      protocol: "SASL_PLAINTEXT",
      mechanism: "SCRAM-SHA-256",
      hostname: "127.0.0.1:19093",
    });
    // No hostname entry is the fallback for brokers no entry names.
    const other = await loadHopAuth({ env: dir.env, brokers: ["elsewhere.org:9092"] });
    assert.equal(other?.entry.username, "anywhere");
    assert.equal(other?.entry.protocol, "SASL_SSL");
    assert.equal(other?.entry.mechanism, "SCRAM-SHA-512");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("port matching: an omitted port equals Kafka's default 9092 only", () => {
  const entry = (hostname: string): HopAuthEntry => ({
    username: hostname,
    password: SECRET,
    protocol: "SASL_SSL",
    mechanism: "SCRAM-SHA-512",
    hostname,
  });
  const pick = (entries: HopAuthEntry[], broker: string) =>
    selectHopAuth(entries, broker, "auth.toml").username;
  assert.equal(pick([entry("kafka.scimma.org")], "kafka.scimma.org:9092"), "kafka.scimma.org");
  assert.equal(pick([entry("kafka.scimma.org:9092")], "kafka.scimma.org"), "kafka.scimma.org:9092");
  assert.equal(pick([entry("[::1]:9093")], "[::1]:9093"), "[::1]:9093");
  for (
    const [hostname, broker] of [["host:9093", "host"], ["host", "host:9093"], ["host:9092", "host:9093"]]
  ) {
    assert.throws(() => pick([entry(hostname!)], broker!), assertCodedWithoutSecret("HOP_AUTH_NOT_FOUND"));
  }
});

Deno.test("the old single [auth] table works", async () => {
  const dir = await configHome(`[auth]\nusername = "old-style"\npassword = "${SECRET}"\n`);
  try {
    const auth = await loadHopAuth({ env: dir.env, brokers: ["kafka.scimma.org:9092"] });
    assert.equal(auth?.entry.username, "old-style");
    assert.equal(auth?.entry.password, SECRET);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("a file written by hop-client's TOML library (toml.dump of hop's dict shape) parses", async () => {
  const script =
    `import toml,sys; sys.stdout.write(toml.dumps({"auth": [{"username": "u1", "password": "${SECRET}",
 "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512", "hostname": "kafka.scimma.org"},
 {"username": "u2", "password": "${SECRET}", "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512"}]}))`;
  const out = await new Deno.Command(pythonBin(), { args: ["-c", script], stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const entries = parseHopAuth(new TextDecoder().decode(out.stdout), "auth.toml");
  assert.deepEqual(entries.map((e) => [e.username, e.hostname ?? null]), [["u1", "kafka.scimma.org"], [
    "u2",
    null,
  ]]);
});

Deno.test("several fitting entries are HOP_AUTH_AMBIGUOUS unless a username picks one", async () => {
  const dir = await configHome(
    `[[auth]]\nusername = "a"\npassword = "${SECRET}"\n[[auth]]\nusername = "b"\npassword = "${SECRET}"\n`,
  );
  try {
    await assert.rejects(
      loadHopAuth({ env: dir.env, brokers: ["kafka.scimma.org:9092"] }),
      assertCodedWithoutSecret("HOP_AUTH_AMBIGUOUS", /a \(any broker\), b \(any broker\)/),
    );
    const b = await loadHopAuth({ env: dir.env, brokers: ["kafka.scimma.org:9092"], username: "b" });
    assert.equal(b?.entry.username, "b");
    await assert.rejects(
      loadHopAuth({ env: dir.env, brokers: ["kafka.scimma.org:9092"], username: "c" }),
      assertCodedWithoutSecret("HOP_AUTH_NOT_FOUND", /username "c"/),
    );
  } finally {
    await dir.cleanup();
  }
});

Deno.test("missing files: explicit is an error, the default location is optional", async () => {
  const dir = await configHome(null);
  try {
    assert.equal(await loadHopAuth({ env: dir.env, brokers: ["h:9092"] }), null);
    assert.equal(await loadHopAuth({ env: {}, brokers: ["h:9092"] }), null, "no HOME, no XDG_CONFIG_HOME");
    await assert.rejects(
      loadHopAuth({ path: `${dir.home}/nope.toml`, env: dir.env, brokers: ["h:9092"] }),
      assertCodedWithoutSecret("HOP_AUTH_NOT_FOUND", /--hop-auth/),
    );
  } finally {
    await dir.cleanup();
  }
});

Deno.test("default path: XDG_CONFIG_HOME first, else ~/.config", () => {
  assert.equal(defaultHopAuthPath({ XDG_CONFIG_HOME: "/x", HOME: "/h" }), "/x/hop/auth.toml");
  assert.equal(defaultHopAuthPath({ HOME: "/h" }), "/h/.config/hop/auth.toml");
  assert.equal(defaultHopAuthPath({}), undefined);
});

Deno.test("an explicit path is used as given", async () => {
  const dir = await configHome(`[auth]\nusername = "explicit"\npassword = "${SECRET}"\n`);
  try {
    const auth = await loadHopAuth({ path: dir.path, env: {}, brokers: ["h:9092"] });
    assert.equal(auth?.entry.username, "explicit");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("old hop versions' credentials in hop/config.toml are found when auth.toml is absent", async () => {
  const dir = await configHome(`[auth]\nusername = "legacy"\npassword = "${SECRET}"\n`, 0o600, "config.toml");
  try {
    const auth = await loadHopAuth({ env: dir.env, brokers: ["h:9092"] });
    assert.equal(auth?.entry.username, "legacy");
    assert.equal(auth?.path, `${dir.home}/hop/config.toml`);
  } finally {
    await dir.cleanup();
  }
  const noAuth = await configHome(`[config]\nfetch_external = true\n`, 0o600, "config.toml");
  try {
    assert.equal(await loadHopAuth({ env: noAuth.env, brokers: ["h:9092"] }), null);
  } finally {
    await noAuth.cleanup();
  }
});

Deno.test("permissions looser than 0600 give a warning (hop-client would refuse the file)", async () => {
  const dir = await configHome(`[auth]\nusername = "u"\npassword = "${SECRET}"\n`, 0o644);
  try {
    const auth = await loadHopAuth({ env: dir.env, brokers: ["h:9092"] });
    assert.equal(auth?.warnings.length, 1);
    assert.match(auth!.warnings[0]!, /mode 0644/);
    assert.match(auth!.warnings[0]!, new RegExp(`chmod 600 ${dir.path}`));
    assert.ok(!auth!.warnings[0]!.includes(SECRET));
    await Deno.chmod(dir.path, 0o400);
    assert.deepEqual((await loadHopAuth({ env: dir.env, brokers: ["h:9092"] }))?.warnings, []);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("invalid files are HOP_AUTH_INVALID and never echo the password", () => {
  const cases: Array<[string, RegExp]> = [
    [`[[auth]]\nusername = "u"\npassword = "${SECRET}\n`, /line 3/],
    [`[[auth]]\nusername = "u"\npassword = ${SECRET}\n`, /line 3/],
    [`[[auth]]\nusername = "u"\n`, /has no password/],
    [`[[auth]]\npassword = "${SECRET}"\n`, /has no username/],
    [`[[auth]]\nusername = "u"\npassword = 12345\n`, /"password" must be a string/],
    [`[[auth]]\nusername = "u"\npassword = "${SECRET}"\nmechanism = "GSSAPI"\n`, /mechanism "GSSAPI"/],
    [`[[auth]]\nusername = "u"\npassword = "${SECRET}"\ntoken_endpoint = "https://x"\n`, /OAUTHBEARER/],
    [`[other]\nkey = "${SECRET}"\n`, /no \[\[auth\]\]/],
    [`auth = "${SECRET}"\n`, /not a table/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseHopAuth(text, "/home/u/.config/hop/auth.toml"),
      (error: Error & { code?: string }) => {
        assertCodedWithoutSecret("HOP_AUTH_INVALID", pattern)(error);
        assert.match(error.message, /\/home\/u\/\.config\/hop\/auth\.toml/);
        return true;
      },
    );
  }
});

Deno.test("no fitting credential is HOP_AUTH_NOT_FOUND listing what the file has", async () => {
  const dir = await configHome(
    `[[auth]]\nusername = "only"\npassword = "${SECRET}"\nhostname = "kafka.scimma.org"\n`,
  );
  try {
    await assert.rejects(
      loadHopAuth({ env: dir.env, brokers: ["127.0.0.1:19093"] }),
      assertCodedWithoutSecret("HOP_AUTH_NOT_FOUND", /only for kafka\.scimma\.org.*KAFKA_USERNAME/),
    );
  } finally {
    await dir.cleanup();
  }
});

Deno.test("credential selection equals hop-client's select_matching_auth in 645 cases", async () => {
  const hostnames = ["", "kafka.scimma.org", "kafka.scimma.org:9092", "kafka.scimma.org:9093", "other.org"]
    .concat(["127.0.0.1:19093", "[::1]:9092", "[::1]"]);
  const brokers = ["kafka.scimma.org", "kafka.scimma.org:9092", "kafka.scimma.org:9093", "other.org:9092"]
    .concat(["127.0.0.1:19093", "[::1]", "[::1]:9092"]);
  const combos: string[][] = [];
  hostnames.forEach((a, i) => {
    combos.push([a]);
    hostnames.slice(i + 1).forEach((b, j) => {
      combos.push([a, b]);
      hostnames.slice(i + j + 2).forEach((c) => combos.push([a, b, c]));
    });
  });
  const cases: Array<{ hosts: string[]; broker: string; username: string | null }> = combos.flatMap((hosts) =>
    brokers.map((broker) => ({ hosts, broker, username: null }))
  );
  cases.push({ hosts: ["", ""], broker: "x:9092", username: "1" });
  const expected = JSON.parse(
    await runPython("hop_auth_peer.py", ["select"], new TextEncoder().encode(JSON.stringify(cases))),
  ) as Array<number | string>;
  const ours = cases.map(({ hosts, broker, username }) => {
    const entries: HopAuthEntry[] = hosts.map((hostname, i) => ({
      username: String(i),
      password: SECRET,
      protocol: "SASL_SSL",
      mechanism: "SCRAM-SHA-512",
      ...(hostname ? { hostname } : {}),
    }));
    try {
      return Number(selectHopAuth(entries, broker, "auth.toml", username ?? undefined).username);
    } catch (error) {
      return (error as { code?: string }).code === "HOP_AUTH_AMBIGUOUS" ? "AMBIGUOUS" : "NOTFOUND";
    }
  });
  assert.equal(cases.length, 645);
  assert.deepEqual(ours, expected);
});

Deno.test("entries are interpreted as hop-client's load_auth interprets them", async () => {
  const dir = await configHome(`${TWO_HOSTS}
[[auth]]
username = "plain-mech"
password = "${SECRET}-4"
mechanism = "PLAIN"
protocol = "SOMETHING_ELSE"
`);
  try {
    const reference = JSON.parse(await runPython("hop_auth_peer.py", ["load", dir.path])) as Array<
      Record<string, string | null>
    >;
    const ours = parseHopAuth(await Deno.readTextFile(dir.path), dir.path);
    assert.equal(ours.length, reference.length);
    ours.forEach((entry, i) => {
      const ref = reference[i]!;
      // hop-client fills in certifi's bundle when no CA is given; we leave that to the system's roots.
      const refCa = ref.ssl_ca_location?.endsWith("certifi/cacert.pem") ? null : ref.ssl_ca_location;
      assert.deepEqual(
        [
          entry.username,
          entry.password,
          entry.protocol,
          entry.mechanism,
          entry.hostname ?? "",
          entry.sslCaLocation ?? null,
        ],
        [ref.username, ref.password, ref.protocol, ref.mechanism, ref.hostname, refCa],
      );
    });
  } finally {
    await dir.cleanup();
  }
});
