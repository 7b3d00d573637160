// `db migrate` and `db status`: the index schema's version, upgraded on purpose rather than as a side effect.
import type { Command, CommandContext } from "../cli/command.ts";
import {
  CONNECTION_OPTIONS,
  maskSecret,
  parseCommandArgs,
  type ResolvedSettings,
  settingsHelp,
  settingValue,
} from "../cli/config.ts";
import {
  commandLogger,
  type CommandSettings,
  commandSettings,
  openIndex,
  printConfig,
} from "../cli/services.ts";
import { usageError } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable, printableOptions, readOptions } from "../cli/options.ts";
import { toJson } from "../cli/output.ts";
import { MIGRATIONS } from "../index/migrations.ts";

const DB_OPTIONS = {
  json: { type: "boolean", help: "one JSON object instead of text" },
  check: { type: "boolean", help: "(status) exit 1 when migrations are pending" },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(DB_OPTIONS) };

export type DbAction = "migrate" | "status";

export interface DbOptions extends CommandSettings {
  action: DbAction;
  json: boolean;
  /** status: exit 1 when migrations are pending. */
  check: boolean;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseDbArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): DbOptions {
  const { values, positionals } = parseCommandArgs("db", argv, OPTIONS, true);
  const [action, ...extra] = positionals;
  if (action === undefined) throw usageError("db", "which action? `db migrate` or `db status`");
  if (action !== "migrate" && action !== "status") {
    throw usageError("db", `unknown action "${action}": use migrate or status`);
  }
  if (extra.length > 0) throw usageError("db", `unexpected argument "${extra[0]}"`);
  const own = readOptions("db", DB_OPTIONS, values, env);
  if (own.check && action !== "status") throw usageError("db", "--check belongs to `db status`");
  return { ...commandSettings(values, env, readConfig), action, ...own };
}

export const command: Command = {
  name: "db",
  summary: "index schema: `db status` (version, pending migrations), `db migrate` (upgrade)",
  help: `Usage: housekeeping db status [--json] [--check] [options]
       housekeeping db migrate [--json] [options]

status   prints the index schema's version, the newest version this housekeeping knows and the migrations
         still to apply. With --check, exits 1 when any is pending (for deployment scripts).
migrate  applies the pending migrations, each in its own transaction under an advisory lock, so it is safe next to
         running archivers; a database of the original housekeeping (version 1) is upgraded in place. \`archive\`
         also migrates when it starts; the read-only commands (status, verify, query, ...) never do.

Options:
${optionsHelp(DB_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success; 1 on errors (or, with --check, pending migrations); 2 for usage errors.

Examples:
  housekeeping db status
  DATABASE_URL=postgres://archive@db/hop housekeeping db migrate --db-schema housekeeping
  housekeeping db status --check --json
`,
  async run(argv, ctx) {
    const options = parseDbArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        action: options.action,
        ...printableOptions(DB_OPTIONS, options),
      });
    }
    const idx = await openIndex(options.settings, ctx.env, commandLogger(options.settings, ctx));
    try {
      return options.action === "migrate"
        ? await migrate(options, idx.index, ctx)
        : await status(options, idx.index, ctx);
    } finally {
      await idx.close();
    }
  },
};

type IndexHandle = Awaited<ReturnType<typeof openIndex>>["index"];

function where(settings: ResolvedSettings) {
  const url = settingValue(settings, "database-url");
  return {
    database: url === undefined ? "embedded (PGlite) or PG* environment" : maskSecret(url),
    schema: settingValue(settings, "db-schema") ?? null,
  };
}

/** Pure: the migrations a database at `current` still needs. */
export function pendingMigrations(current: number): { version: number; name: string }[] {
  return MIGRATIONS.filter((m) => m.version > current).map(({ version, name }) => ({ version, name }));
}

async function status(options: DbOptions, index: IndexHandle, ctx: CommandContext): Promise<number> {
  const { current, latest } = await index.schemaVersion();
  const pending = pendingMigrations(current);
  const report = { ...where(options.settings), current, latest, pending, upToDate: pending.length === 0 };
  if (options.json) ctx.stdout(toJson(report) + "\n");
  else {
    const lines = [
      `database: ${report.database}${report.schema ? ` (schema ${report.schema})` : ""}`,
      `schema version: ${current} (this housekeeping: ${latest})`,
    ];
    if (current > latest) lines.push("the index is newer than this housekeeping: upgrade housekeeping");
    else if (pending.length === 0) lines.push("up to date");
    else {
      lines.push(`pending migrations (run \`housekeeping db migrate\`):`);
      for (const m of pending) lines.push(`  ${m.version}  ${m.name}`);
    }
    ctx.stdout(lines.join("\n") + "\n");
  }
  return options.check && (pending.length > 0 || current > latest) ? 1 : 0;
}

async function migrate(options: DbOptions, index: IndexHandle, ctx: CommandContext): Promise<number> {
  const { from, to } = await index.migrate();
  if (options.json) {
    ctx.stdout(toJson({ ...where(options.settings), from, to, migrated: from !== to }) + "\n");
  } else {ctx.stdout(
      from === to
        ? `already at schema version ${to}\n`
        : `migrated the index schema from version ${from} to ${to}\n`,
    );}
  return 0;
}
