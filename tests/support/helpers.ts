// Shared test plumbing: every test talks to the real services started by scripts/services.sh.
import assert from "node:assert/strict";
import type { Consumer, ConsumerRunConfig, EachMessagePayload } from "kafkajs";

/** The variables `scripts/services.sh env` exports; a missing one means the services were not started. */
export function serviceEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    // A code of the tests' own: the program's error codes (lib/runtime/errors.ts) are for the program.
    throw Object.assign(
      new Error(
        `${name} is not set: run the tests with \`make test\` (or eval "$(scripts/services.sh env)" first)`,
      ),
      { code: "TEST_ENV_MISSING" },
    );
  }
  return value;
}

/** Unique per test run so tests never see each other's topics, buckets, groups or schemas. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}

/** For assert.throws/rejects: the error carries `code` (and, when given, that `retriable`). */
export function hasCode(code: string, retriable?: boolean) {
  return (e: unknown) => {
    const err = e as { code?: unknown; retriable?: unknown };
    assert.equal(err.code, code, `expected ${code}, got ${String(err.code)}: ${String(e)}`);
    if (retriable !== undefined) assert.equal(err.retriable, retriable);
    return true;
  };
}

/**
 * Runs a connected, subscribed `consumer` until `eachMessage` returns true. A missing message fails the test after
 * `seconds`, saying how far it got (`progress`, e.g. "3/5 messages"), instead of hanging it.
 */
export async function consumeUntil(
  consumer: Consumer,
  seconds: number,
  progress: () => string,
  eachMessage: (payload: EachMessagePayload) => boolean | Promise<boolean>,
  config: Omit<ConsumerRunConfig, "eachMessage" | "eachBatch"> = {},
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${progress()} in ${seconds} s`)), seconds * 1000);
      consumer.run({
        ...config,
        eachMessage: async (payload) => {
          if (await eachMessage(payload)) resolve();
        },
      }).catch(reject);
    });
  } finally {
    clearTimeout(timer);
  }
}

export function pythonBin(): string {
  return Deno.env.get("HOUSEKEEPING_PYTHON") ??
    `${Deno.env.get("HOME")}/.cache/housekeeping/venv/bin/python`;
}

/** Runs a script under tests/py with the peer venv; returns stdout, throws with stderr on failure. */
export async function runPython(script: string, args: string[], stdin?: Uint8Array): Promise<string> {
  const path = new URL(`../py/${script}`, import.meta.url).pathname;
  const child = new Deno.Command(pythonBin(), {
    args: [path, ...args],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `python ${script} failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}\n${stdout}`,
    );
  }
  return stdout;
}
