// The Kafka choices (--security-protocol, --sasl-mechanism) go through flags.ts's one oneOf: any case, a bad flag is
// USAGE pointing at the command's help, a bad variable or config key is CONFIG_INVALID naming where it came from.
import assert from "node:assert/strict";
import { kafkaSettings, loadSettings } from "../../lib/cli/services.ts";

const noFile = () => {
  throw new Error("no config file in this test");
};

async function resolve(values: Record<string, string>, env: Record<string, string> = {}) {
  const settings = loadSettings(values, env, undefined, noFile);
  return await kafkaSettings(settings, { env, command: "topics" }, "test");
}

Deno.test("kafka settings: the choices in any case, given as a flag or a variable", async () => {
  const flag = await resolve({ "security-protocol": "plaintext", brokers: "127.0.0.1:1" });
  assert.equal(flag.settings.securityProtocol, "PLAINTEXT");
  const sasl = await resolve(
    { username: "u", password: "p", "sasl-mechanism": "scram-sha-256", brokers: "127.0.0.1:1" },
    { KAFKA_SECURITY_PROTOCOL: "sasl_plaintext" },
  );
  assert.equal(sasl.settings.securityProtocol, "SASL_PLAINTEXT");
  assert.equal(sasl.settings.sasl?.mechanism, "SCRAM-SHA-256");
});

Deno.test("kafka settings: a bad flag is USAGE with the command's help, a bad variable CONFIG_INVALID naming it", async () => {
  await assert.rejects(resolve({ "security-protocol": "tcp" }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "USAGE");
    assert.match(
      e.message,
      /^--security-protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got "tcp"/,
    );
    assert.match(e.message, /see `housekeeping topics --help`$/);
    return true;
  });
  await assert.rejects(
    resolve({ username: "u", password: "p" }, { KAFKA_SASL_MECHANISM: "md5" }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "CONFIG_INVALID");
      assert.match(
        e.message,
        /^--sasl-mechanism must be one of .*, got "md5" \(from KAFKA_SASL_MECHANISM\)$/,
      );
      return true;
    },
  );
});
