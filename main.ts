// housekeeping: a byte-exact archiver for Hopskotch. argv -> command table; the only place that exits.
import type { Command, CommandContext } from "./lib/cli/command.ts";
import { errorMessage, isHkError } from "./lib/runtime/errors.ts";
import { VERSION } from "./lib/version.ts";
import { startMemoryLog } from "./lib/runtime/memlog.ts";
import { createLogger, logFormatOf } from "./lib/runtime/log.ts";
import { maskSecrets } from "./lib/runtime/secrets.ts";
import { keepMemoryUnder, memoryTargetBytes, tuneMalloc } from "./lib/runtime/memory.ts";

type Loader = () => Promise<Command>;

/**
 * Sub-commands load lazily so that running one loads only its own code. Each command's summary and help live once,
 * in its Command object; `--help` loads them all to list the summaries.
 */
export const COMMANDS: Record<string, Loader> = {
  archive: async () => (await import("./lib/commands/archive.ts")).command,
  restore: async () => (await import("./lib/commands/restore.ts")).command,
  "mock-hop": async () => (await import("./lib/commands/mock_hop.ts")).command,
  serve: async () => (await import("./lib/commands/serve.ts")).command,
  "offload-endpoint": async () => (await import("./lib/commands/offload_endpoint.ts")).command,
  healthz: async () => (await import("./lib/commands/healthz.ts")).command,
  status: async () => (await import("./lib/commands/status.ts")).command,
  verify: async () => (await import("./lib/commands/verify.ts")).command,
  inspect: async () => (await import("./lib/commands/inspect.ts")).command,
  query: async () => (await import("./lib/commands/query.ts")).command,
  list: async () => (await import("./lib/commands/query.ts")).listCommand,
  export: async () => (await import("./lib/commands/export.ts")).command,
  search: async () => (await import("./lib/commands/search.ts")).command,
  db: async () => (await import("./lib/commands/db.ts")).command,
  topics: async () => (await import("./lib/commands/topics.ts")).command,
};

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `housekeeping ${VERSION}: byte-exact archiver for Hopskotch (SCiMMA's Kafka alert network)

Usage: housekeeping <command> [options]      housekeeping <command> --help

Commands:
${lines.join("\n")}

Options:
  --help, -h     this text
  --version      print the version
`;
}

export async function main(argv: string[], ctx: CommandContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    ctx.stdout(await usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "version") {
    ctx.stdout(`housekeeping ${VERSION}\n`);
    return EXIT.ok;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    ctx.stdout(await usage());
    console.error(`housekeeping: unknown command "${name}"`);
    return EXIT.usage;
  }
  const command = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    ctx.stdout(command.help);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, { ...ctx, command: command.name });
  } catch (e) {
    // Messages may quote a setting or a library's error, and so a URL with its password: masked here.
    if (isHkError(e)) {
      console.error(maskSecrets(`housekeeping ${command.name}: ${e.message} [${e.code}]`));
      return e.code === "USAGE" ? EXIT.usage : EXIT.failure;
    }
    console.error(maskSecrets(`housekeeping ${command.name}: unexpected error: ${errorMessage(e)}`));
    if (e instanceof Error && e.stack) console.error(maskSecrets(e.stack));
    return EXIT.failure;
  }
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  tuneMalloc(env);
  try {
    // Before any command has its logger, so LOG_LEVEL=error is honoured but --log-level is not yet known.
    const level = env.LOG_LEVEL === "error" ? "error" : "info";
    // A bad LOG_FORMAT stops here, with one line, before any command runs.
    const format = logFormatOf(env, Deno.stderr.isTerminal());
    keepMemoryUnder(
      memoryTargetBytes(env),
      createLogger({ level, format, fields: { logger: "memory" } }).warn,
    );
    const memlog = env.HK_MEMLOG;
    if (memlog) startMemoryLog(memlog);
  } catch (e) {
    console.error(maskSecrets(`housekeeping: ${errorMessage(e)}${isHkError(e) ? ` [${e.code}]` : ""}`));
    Deno.exit(EXIT.failure);
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const encoder = new TextEncoder();
  const code = await main(Deno.args, {
    env,
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stdoutBytes: async (bytes) => {
      const w = Deno.stdout.writable.getWriter();
      await w.write(bytes);
      w.releaseLock();
    },
    isTerminal: Deno.stdout.isTerminal(),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    shutdown: controller.signal,
  });
  Deno.exit(code);
}
