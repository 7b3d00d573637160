// Each TLS failure stops `archive` at start-up with exit 1 and one coded line that says what to fix; the SCRAM
// password never appears. The TLS services are real (scripts/services.sh); the certificates with a defect are
// served by a TLS front of the test's own (tests/support/tls_fixture.ts) in front of the real broker.
import assert from "node:assert/strict";
import { indexTls } from "../../lib/index/tls.ts";
import { hostPort, tlsProblem } from "../../lib/runtime/tls.ts";
import { runMain, withArchiveScenario } from "../support/archive_helpers.ts";
import { serviceEnv } from "../support/helpers.ts";
import { openStore } from "../../lib/store/open.ts";
import {
  type BadCertificates,
  dropTlsBucket,
  makeBadCertificates,
  tlsBaseEnv,
  tlsFront,
} from "../support/tls_fixture.ts";

const PASSWORD_MARK = "hk-wrong-Pa55word";

interface Case {
  env: Record<string, string>;
  code: string;
  says: RegExp;
}

/** `archive` with `env` on top of a plain, working set-up (directory store, plain PostgreSQL). */
async function assertStartupFails({ env, code, says }: Case): Promise<void> {
  await withArchiveScenario("tlserr", {}, async (s) => {
    const result = await runMain(
      ["archive", "--until-end", "--store", s.storeUrl, "--db-schema", s.schema, "--group", s.group],
      { ...tlsBaseEnv(), VETO_FILE: s.veto, ...env },
    );
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 1, output);
    const coded = result.stderr.split("\n").filter((line) => line.startsWith("housekeeping archive:"));
    assert.equal(coded.length, 1, `expected one error line:\n${output}`);
    assert.ok(coded[0]!.endsWith(`[${code}]`), coded[0]);
    assert.match(coded[0]!, says);
    assert.ok(!output.includes(PASSWORD_MARK), "the password appears in the output");
    assert.ok(!output.includes(serviceEnv("KAFKA_PASSWORD")), "the password appears in the output");
  });
}

function sasl(brokers: string, protocol: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_SECURITY_PROTOCOL: protocol,
    KAFKA_USERNAME: serviceEnv("KAFKA_USERNAME"),
    KAFKA_PASSWORD: serviceEnv("KAFKA_PASSWORD"),
    ...extra,
  };
}

let certificates: Promise<BadCertificates> | undefined;
function badCertificates(): Promise<BadCertificates> {
  certificates ??= Deno.makeTempDir({ prefix: "hk-tls-certs-" }).then(makeBadCertificates);
  return certificates;
}

Deno.test("Kafka: a broker certificate of an unknown CA is KAFKA_TLS_FAILED naming --ca-file", async () => {
  const { caFile } = await badCertificates();
  await assertStartupFails({
    env: sasl(serviceEnv("KAFKA_SSL_BROKERS"), "SASL_SSL", { KAFKA_CA_FILE: caFile }),
    code: "KAFKA_TLS_FAILED",
    says: /not signed by a CA this program trusts .*--ca-file \(KAFKA_CA_FILE\) or ssl_ca_location/,
  });
});

Deno.test("Kafka: a certificate for another host name is KAFKA_TLS_FAILED", async () => {
  const certs = await badCertificates();
  // The front itself is sound: with the good certificate a client that trusts the CA completes the handshake.
  const good = tlsFront(certs.good);
  const wrong = tlsFront(certs.wrongHost);
  try {
    const [host, port] = good.address.split(":");
    const conn = await Deno.connectTls({
      hostname: host!,
      port: Number(port),
      caCerts: [await Deno.readTextFile(certs.caFile)],
    });
    await conn.handshake();
    conn.close();
    await assertStartupFails({
      env: sasl(wrong.address, "SASL_SSL", { KAFKA_CA_FILE: certs.caFile }),
      code: "KAFKA_TLS_FAILED",
      says: /not valid for the host name used/,
    });
  } finally {
    good.close();
    wrong.close();
  }
});

Deno.test("Kafka: an expired broker certificate is KAFKA_TLS_FAILED", async () => {
  const certs = await badCertificates();
  const front = tlsFront(certs.expired);
  try {
    await assertStartupFails({
      env: sasl(front.address, "SASL_SSL", { KAFKA_CA_FILE: certs.caFile }),
      code: "KAFKA_TLS_FAILED",
      says: /has expired or is not yet valid/,
    });
  } finally {
    front.close();
  }
});

Deno.test("Kafka: a PLAINTEXT client on the SASL_SSL port is told to check the protocol", async () => {
  await assertStartupFails({
    env: { KAFKA_BROKERS: serviceEnv("KAFKA_SSL_BROKERS"), KAFKA_SECURITY_PROTOCOL: "PLAINTEXT" },
    code: "KAFKA_CONNECTION_CLOSED",
    says: /expects another security protocol than PLAINTEXT: check --security-protocol/,
  });
});

Deno.test("Kafka: a SASL_SSL client on the PLAINTEXT port is KAFKA_TLS_FAILED naming the listener", async () => {
  await assertStartupFails({
    env: sasl(serviceEnv("KAFKA_BROKERS"), "SASL_SSL", { KAFKA_CA_FILE: serviceEnv("KAFKA_CA_FILE") }),
    code: "KAFKA_TLS_FAILED",
    says: /check that this port is the broker's SASL_SSL listener/,
  });
});

Deno.test("Kafka: a wrong SCRAM password over SASL_SSL is KAFKA_AUTH_FAILED without the password", async () => {
  await assertStartupFails({
    env: sasl(serviceEnv("KAFKA_SSL_BROKERS"), "SASL_SSL", {
      KAFKA_CA_FILE: serviceEnv("KAFKA_CA_FILE"),
      KAFKA_PASSWORD: PASSWORD_MARK,
    }),
    code: "KAFKA_AUTH_FAILED",
    says: /authentication as "housekeeping" failed .*check KAFKA_USERNAME\/KAFKA_PASSWORD/,
  });
});

Deno.test("S3 over HTTPS without AWS_CA_BUNDLE is STORE_TLS_FAILED naming AWS_CA_BUNDLE", async () => {
  await withArchiveScenario("tlserr", {}, async (s) => {
    const result = await runMain(
      [
        "archive",
        "--until-end",
        "--store",
        `s3://${s.id.toLowerCase().slice(0, 60)}`,
        "--db-schema",
        s.schema,
      ],
      {
        ...tlsBaseEnv(),
        KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"),
        S3_ENDPOINT: serviceEnv("S3_SSL_ENDPOINT"),
      },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^housekeeping archive: TLS with https:\/\/127\.0\.0\.1:\d+ failed: .*AWS_CA_BUNDLE.*\[STORE_TLS_FAILED\]$/m,
    );
  });
});

Deno.test("S3 over HTTPS with an expired certificate or one for another host says which", async () => {
  const certs = await badCertificates();
  const minio = new URL(serviceEnv("S3_ENDPOINT")).host;
  for (
    const [certificate, says] of [[certs.expired, /has expired/], [
      certs.wrongHost,
      /not valid for the host/,
    ]] as const
  ) {
    const front = tlsFront(certificate, minio);
    try {
      await withArchiveScenario("tlserr", {}, async (s) => {
        const result = await runMain(
          [
            "archive",
            "--until-end",
            "--store",
            `s3://${s.id.toLowerCase().slice(0, 60)}`,
            "--db-schema",
            s.schema,
          ],
          {
            ...tlsBaseEnv(),
            KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"),
            S3_ENDPOINT: `https://${front.address}`,
            AWS_CA_BUNDLE: certs.caFile,
          },
        );
        assert.equal(result.code, 1, result.stderr);
        const line = result.stderr.split("\n").find((l) => l.startsWith("housekeeping archive:")) ??
          result.stderr;
        assert.match(line, says);
        assert.ok(line.endsWith("[STORE_TLS_FAILED]"), line);
      });
    } finally {
      front.close();
    }
  }
});

Deno.test("PostgreSQL verify-full without the root certificate is INDEX_TLS_FAILED naming sslrootcert", async () => {
  await withArchiveScenario("tlserr", {}, async (s) => {
    const result = await runMain(
      ["archive", "--until-end", "--store", s.storeUrl, "--db-schema", s.schema],
      { ...tlsBaseEnv(), VETO_FILE: s.veto, DATABASE_URL: serviceEnv("DATABASE_SSL_URL") },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^housekeeping archive: TLS with PostgreSQL .*not signed by a CA.*PGSSLROOTCERT.*\[INDEX_TLS_FAILED\]$/m,
    );
    assert.ok(!result.stderr.includes("hk-pg-secret"));
  });
});

Deno.test("libpq TLS settings: the URL wins over PG* variables; modes that verify less warn", () => {
  const ca = serviceEnv("PGSSLROOTCERT");
  const url = "postgres://u:p@db.example.org/x";
  assert.deepEqual(indexTls(url, {}), { url, ssl: false });
  assert.deepEqual(indexTls(`${url}?sslmode=disable`, { PGSSLMODE: "verify-full" }), { url, ssl: false });
  const full = indexTls(`${url}?sslmode=verify-full&sslrootcert=${ca}&application_name=a`, {});
  assert.equal(full.url, `${url}?application_name=a`, "sslrootcert must not reach the server as a setting");
  assert.deepEqual(full.ssl, { ca: Deno.readTextFileSync(ca) });
  assert.equal(full.warning, undefined);
  assert.deepEqual(indexTls(url, { PGSSLMODE: "verify-full", PGSSLROOTCERT: "system" }).ssl, {});
  const multiHost = "postgres://u:p@h1:5432,h2:5432/x";
  assert.deepEqual(indexTls(`${multiHost}?sslmode=verify-full`, {}), { url: multiHost, ssl: {} });
  const require = indexTls(url, { PGSSLMODE: "require" });
  assert.equal(require.ssl, "require");
  assert.match(require.warning!, /not verified.*verify-full/);
  const verifyCa = indexTls(url, { PGSSLMODE: "require", PGSSLROOTCERT: ca });
  assert.match(verifyCa.warning!, /verified but not its host name/);
  assert.throws(
    () => indexTls(`${url}?sslmode=verify_full`, {}),
    /INDEX_CONFIG_INVALID|sslmode "verify_full"/,
  );
  assert.throws(
    () => indexTls(url, { PGSSLMODE: "verify-full", PGSSLROOTCERT: "/nonexistent.pem" }),
    /PGSSLROOTCERT/,
  );
});

Deno.test("NODE_TLS_REJECT_UNAUTHORIZED=0 is an explicit opt-out: it works, with a warning per wire", async () => {
  await withArchiveScenario("tlsoptout", {}, async (s) => {
    const bucket = s.id.toLowerCase().slice(0, 63).replace(/[^a-z0-9]+$/, "");
    const store = await openStore(`s3://${bucket}`, {
      endpoint: serviceEnv("S3_SSL_ENDPOINT"),
      caFile: serviceEnv("AWS_CA_BUNDLE"),
      createBucket: true,
    });
    store.close();
    try {
      const result = await runMain(
        ["archive", "--until-end", "--store", `s3://${bucket}`, "--db-schema", s.schema, "--group", s.group],
        {
          ...tlsBaseEnv(),
          ...sasl(serviceEnv("KAFKA_SSL_BROKERS"), "SASL_SSL"),
          VETO_FILE: s.veto,
          S3_ENDPOINT: serviceEnv("S3_SSL_ENDPOINT"),
          DATABASE_URL: serviceEnv("DATABASE_SSL_URL"),
          NODE_TLS_REJECT_UNAUTHORIZED: "0",
        },
      );
      assert.equal(result.code, 0, result.stderr);
      const warnings = result.stderr.split("\n").filter((line) =>
        line.includes("NODE_TLS_REJECT_UNAUTHORIZED=0")
      )
        .map((line) => JSON.parse(line) as { level: string; msg: string });
      assert.ok(warnings.every((w) => w.level === "warn"), result.stderr);
      for (const wire of ["Kafka broker's", "S3 endpoint's", "PostgreSQL server's"]) {
        assert.ok(warnings.some((w) => w.msg.includes(`the ${wire} certificate`)), `no warning for ${wire}`);
      }
    } finally {
      await dropTlsBucket(bucket).catch(() => {});
    }
  });
});

Deno.test("TLS failures are told apart by Node's codes anywhere in the cause chain", () => {
  const wrapped = (code: string, message: string) =>
    Object.assign(new Error("Connection error"), { cause: Object.assign(new Error(message), { code }) });
  assert.equal(tlsProblem(wrapped("SELF_SIGNED_CERT_IN_CHAIN", "self-signed"))?.problem, "unknown-ca");
  assert.equal(tlsProblem(wrapped("CERT_HAS_EXPIRED", "certificate has expired"))?.problem, "expired");
  assert.equal(tlsProblem(wrapped("ERR_TLS_CERT_ALTNAME_INVALID", "altnames"))?.problem, "host-mismatch");
  const reset = wrapped(
    "ECONNRESET",
    "Client network socket disconnected before secure TLS connection was established",
  );
  assert.equal(tlsProblem(reset)?.problem, "handshake");
  assert.equal(tlsProblem(wrapped("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1")), null);
  assert.deepEqual(hostPort("127.0.0.1:9092"), { hostname: "127.0.0.1", port: 9092 });
  assert.deepEqual(hostPort("[::1]:9093"), { hostname: "::1", port: 9093 });
  assert.equal(hostPort("no-port"), undefined);
});
