// Shared test plumbing: every test talks to the real services started by scripts/services.sh.
import { hkError } from "../lib/errors.ts";

/** The variables `scripts/services.sh env` exports; a missing one means the services were not started. */
export function serviceEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw hkError(
      "TEST_ENV_MISSING",
      `${name} is not set: run the tests with \`make test\` (or eval "$(scripts/services.sh env)" first)`,
    );
  }
  return value;
}

/** Unique per test run so tests never see each other's topics, buckets, groups or schemas. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}

export function pythonBin(): string {
  return Deno.env.get("HOUSEKEEPING_PYTHON") ??
    `${Deno.env.get("HOME")}/.cache/housekeeping/venv/bin/python`;
}

/** Runs a script under tests/py with the peer venv; returns stdout, throws with stderr on failure. */
export async function runPython(script: string, args: string[], stdin?: Uint8Array): Promise<string> {
  const path = new URL(`./py/${script}`, import.meta.url).pathname;
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
