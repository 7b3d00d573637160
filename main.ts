// housekeeping: a byte-exact archiver for Hopskotch. argv -> command table; the only place that exits.
import type { Command, CommandContext } from "./lib/cli/command.ts";
import { errorMessage, isHkError } from "./lib/runtime/errors.ts";
import { VERSION } from "./lib/version.ts";
import { startMemoryLog } from "./lib/runtime/memlog.ts";
import { createLogger } from "./lib/runtime/log.ts";
import { maskSecrets } from "./lib/runtime/secrets.ts";
import { keepMemoryUnder, memoryTargetBytes, tuneMalloc } from "./lib/runtime/memory.ts";

type Loader = () => Promise<Command>;

/** Sub-commands load lazily so `--help` and small utilities start fast. */
export const COMMANDS: Record<string, { summary: string; load: Loader }> = {
  archive: {
    summary: "archive every readable topic (minus the veto list) into S3 + PostgreSQL",
    load: async () => (await import("./lib/commands/archive.ts")).command,
  },
  restore: {
    summary: "re-publish archived records to Kafka, bit for bit (selected from the index)",
    load: async () => (await import("./lib/commands/restore.ts")).command,
  },
  "mock-hop": {
    summary: "send reproducible Hopskotch-like test traffic (current, legacy, duplicate, adversarial)",
    load: async () => (await import("./lib/commands/mock_hop.ts")).command,
  },
  serve: {
    summary:
      "the archive over HTTP as archive-api serves it: messages, raw values, listings, hop-client offload",
    load: async () => (await import("./lib/commands/serve.ts")).command,
  },
  healthz: {
    summary: "exit 0 when a running archiver reports healthy (container health checks)",
    load: async () => (await import("./lib/commands/healthz.ts")).command,
  },
  status: {
    summary: "per-topic counts, bytes, times and duplicates over time windows; consumer-group lag",
    load: async () => (await import("./lib/commands/status.ts")).command,
  },
  verify: {
    summary:
      "reconcile the index with the object store (missing, orphaned, corrupt objects); --repair orphans",
    load: async () => (await import("./lib/commands/verify.ts")).command,
  },
  inspect: {
    summary: "show one archived message as JSON (--raw: its value bytes; --output: its BSON object)",
    load: async () => (await import("./lib/commands/inspect.ts")).command,
  },
  query: {
    summary: "index rows by topic, time, uuid, sender or format, as JSON lines (keyset paging)",
    load: async () => (await import("./lib/commands/query.ts")).command,
  },
  list: {
    summary: "same as query",
    load: async () => (await import("./lib/commands/query.ts")).listCommand,
  },
  search: {
    summary: "archived messages by their text (archive-core's search), best match first",
    load: async () => (await import("./lib/commands/search.ts")).command,
  },
  export: {
    summary: "write selected messages to a directory: a value file and a metadata JSON file each",
    load: async () => (await import("./lib/commands/export.ts")).command,
  },
  db: {
    summary:
      "index schema: `db status` (version, pending migrations), `db migrate` (upgrade), `db index-text`",
    load: async () => (await import("./lib/commands/db.ts")).command,
  },
  topics: {
    summary: "which topics would be archived now (readable minus veto list) and why the others are not",
    load: async () => (await import("./lib/commands/topics.ts")).command,
  },
};

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
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
    ctx.stdout(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "version") {
    ctx.stdout(`housekeeping ${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    ctx.stdout(usage());
    console.error(`housekeeping: unknown command "${name}"`);
    return EXIT.usage;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    ctx.stdout(command.help);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, ctx);
  } catch (e) {
    // Messages may quote a setting or a library's error, and so a URL with its password: masked here.
    if (isHkError(e)) {
      console.error(maskSecrets(`housekeeping ${name}: ${e.message} [${e.code}]`));
      return e.code === "USAGE" ? EXIT.usage : EXIT.failure;
    }
    console.error(maskSecrets(`housekeeping ${name}: unexpected error: ${errorMessage(e)}`));
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
    keepMemoryUnder(memoryTargetBytes(env), createLogger({ level, fields: { logger: "memory" } }).warn);
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
