// Every production wire over TLS, end to end against the real TLS services of scripts/services.sh: mock-hop
// traffic over Kafka SASL_SSL, archived through a hop auth.toml (protocol = "SASL_SSL", ssl_ca_location) into
// MinIO over HTTPS (AWS_CA_BUNDLE) and PostgreSQL with sslmode=verify-full (PGSSLROOTCERT); then status, verify
// and restore into a SASL_SSL target read it back over the same wires.
import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { sha256Hex } from "../../lib/format/checksum.ts";
import { type ManifestLine, parseManifest } from "../../lib/mock/manifest.ts";
import { defaultTestdataDir } from "../../lib/mock/samples.ts";
import { openStore } from "../../lib/store/open.ts";
import {
  createTopics,
  deleteTopics,
  runMain,
  withArchiveScenario,
  writeMockHopVeto,
} from "../support/archive_helpers.ts";
import { consumeUntil, runPython, serviceEnv } from "../support/helpers.ts";
import { assertArchiveMatchesManifest } from "../support/manifest_checks.ts";
import { dropTlsBucket, tlsBaseEnv } from "../support/tls_fixture.ts";

function sslKafka(): Kafka {
  return new Kafka({
    clientId: "tls-test",
    brokers: [serviceEnv("KAFKA_SSL_BROKERS")],
    ssl: { ca: [Deno.readTextFileSync(serviceEnv("KAFKA_CA_FILE"))] },
    sasl: {
      mechanism: "scram-sha-512",
      username: serviceEnv("KAFKA_USERNAME"),
      password: serviceEnv("KAFKA_PASSWORD"),
    },
    logLevel: logLevel.NOTHING,
  });
}

async function consumeTopic(topic: string, count: number) {
  const consumer = sslKafka().consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  const seen: { value: Buffer | null; key: Buffer | null; timestamp: string }[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumeUntil(consumer, 60, () => `${seen.length}/${count} restored records`, ({ message }) => {
      seen.push({ value: message.value, key: message.key, timestamp: message.timestamp });
      return seen.length >= count;
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function mustRun(args: string[], env: Record<string, string>): Promise<string> {
  const result = await runMain(args, env);
  assert.equal(result.code, 0, `${args[0]} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

const digest = (bytes: Uint8Array | null) => (bytes === null ? null : sha256Hex(bytes));
const summary = (r: { value: string | null; key: string | null; timestamp: string }) =>
  `${r.timestamp} ${r.key} ${r.value}`;

Deno.test("archive, status, verify and restore with Kafka SASL_SSL, S3 over HTTPS and PostgreSQL verify-full", async () => {
  await withArchiveScenario("tlsarch", {}, async ({ id, schema, group, dir }) => {
    const prefix = `${id}.`;
    const bucket = id.toLowerCase().slice(0, 63).replace(/[^a-z0-9]+$/, "");
    const restored = `r-${id}`;
    const base = tlsBaseEnv();
    const sql = postgres(serviceEnv("DATABASE_SSL_URL"), {
      ssl: { ca: Deno.readTextFileSync(serviceEnv("PGSSLROOTCERT")) },
      onnotice: () => {},
      max: 2,
    });
    // Creating the bucket through the store is itself a first HTTPS round trip with the private CA.
    const store = await openStore(`s3://${bucket}`, {
      endpoint: serviceEnv("S3_SSL_ENDPOINT"),
      caFile: serviceEnv("AWS_CA_BUNDLE"),
      createBucket: true,
    });
    try {
      const veto = `${dir}/veto.yaml`;
      await writeMockHopVeto(veto, prefix);
      const manifestPath = `${dir}/manifest.jsonl`;
      await mustRun(
        ["mock-hop", "--count", "120", "--cases", "all", "--seed", "14", "--max-value-mib", "1.5"].concat(
          ["--topic-prefix", prefix, "--manifest", manifestPath],
        ),
        {
          ...base,
          KAFKA_BROKERS: serviceEnv("KAFKA_SSL_BROKERS"),
          KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
          KAFKA_USERNAME: serviceEnv("KAFKA_USERNAME"),
          KAFKA_PASSWORD: serviceEnv("KAFKA_PASSWORD"),
          KAFKA_CA_FILE: serviceEnv("KAFKA_CA_FILE"),
          HOUSEKEEPING_TESTDATA: defaultTestdataDir(),
        },
      );
      const manifest = parseManifest(await Deno.readTextFile(manifestPath));

      // The archive side learns the broker's protocol and CA from hop-client's own credentials file only.
      const authToml = `${dir}/auth.toml`;
      await Deno.writeTextFile(
        authToml,
        `[[auth]]\nusername = "${serviceEnv("KAFKA_USERNAME")}"\npassword = "${
          serviceEnv("KAFKA_PASSWORD")
        }"\n` +
          `protocol = "SASL_SSL"\nmechanism = "SCRAM-SHA-512"\nssl_ca_location = "${
            serviceEnv("KAFKA_CA_FILE")
          }"\n`,
        { mode: 0o600 },
      );
      const env = {
        ...base,
        KAFKA_BROKERS: serviceEnv("KAFKA_SSL_BROKERS"),
        HOP_AUTH_FILE: authToml,
        S3_ENDPOINT: serviceEnv("S3_SSL_ENDPOINT"),
        AWS_CA_BUNDLE: serviceEnv("AWS_CA_BUNDLE"),
        DATABASE_URL: serviceEnv("DATABASE_SSL_URL"),
        PGSSLROOTCERT: serviceEnv("PGSSLROOTCERT"),
      };
      const flags = ["--group", group, "--store", `s3://${bucket}`, "--db-schema", schema, "--veto", veto];
      await mustRun(["archive", "--until-end", ...flags], env);
      const [ssl] = await sql<{ ssl: boolean }[]>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
      assert.equal(ssl?.ssl, true, "the test's own index connection is not TLS");
      await assertArchiveMatchesManifest(manifest, { sql, schema, store });

      // hop-client itself reads the same auth.toml (SASL_SSL, ssl_ca_location) and publishes; archived too.
      const hopTopic = `${prefix}hop-client`;
      await createTopics([hopTopic]);
      const published = (await runPython("hop_auth_publish.py", [
        serviceEnv("KAFKA_SSL_BROKERS"),
        hopTopic,
        authToml,
        "5",
      ])).trim().split("\n").map((line) => JSON.parse(line) as { partition: number; offset: number });
      assert.equal(published.length, 5);
      await mustRun(["archive", "--until-end", ...flags], env);
      const hopRows = await sql.unsafe<{ at: string }[]>(
        `select partition || ':' || "offset" as at from "${schema}".messages where topic = $1`,
        [hopTopic],
      );
      assert.deepEqual(
        hopRows.map((r) => r.at).sort(),
        published.map((p) => `${p.partition}:${p.offset}`).sort(),
        "hop-client's records over SASL_SSL were not all archived",
      );

      const stored = manifest.filter((l) => !l.vetoed && l.duplicate_of === null);
      const status = JSON.parse(await mustRun(["status", "--json", ...flags], env));
      assert.ok(JSON.stringify(status).includes(prefix), "status --json names none of the archived topics");
      await mustRun(["verify", ...flags], env);

      // Restore the busiest topic into a new one on the SASL_SSL listener, credentials and CA for the target only.
      const counts = new Map<string, ManifestLine[]>();
      for (const line of stored) counts.set(line.topic, [...(counts.get(line.topic) ?? []), line]);
      const [topic, lines] = [...counts].sort((a, b) => b[1].length - a[1].length)[0]!;
      assert.ok(lines.length >= 10, `only ${lines.length} records to restore`);
      await mustRun(
        ["restore", "--topic", topic, "--rename", `${topic}=${restored}`, "--create-topics", ...flags],
        {
          ...env,
          RESTORE_KAFKA_BROKERS: serviceEnv("KAFKA_SSL_BROKERS"),
          RESTORE_KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
          RESTORE_KAFKA_USERNAME: serviceEnv("KAFKA_USERNAME"),
          RESTORE_KAFKA_PASSWORD: serviceEnv("KAFKA_PASSWORD"),
          RESTORE_KAFKA_CA_FILE: serviceEnv("KAFKA_CA_FILE"),
        },
      );
      const got = (await consumeTopic(restored, lines.length)).map((r) =>
        summary({ value: digest(r.value), key: digest(r.key), timestamp: r.timestamp })
      );
      const want = lines.map((l) =>
        summary({ value: l.value_sha256, key: l.key_sha256, timestamp: l.timestamp })
      );
      assert.deepEqual(got.sort(), want.sort(), "restored records differ from the archived ones");
    } finally {
      store.close();
      await sql.end();
      await deleteTopics([restored]);
      await dropTlsBucket(bucket).catch(() => {});
    }
  });
});
