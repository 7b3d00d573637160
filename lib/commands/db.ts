// `db migrate` and `db status`: the index schema's version, upgraded on purpose rather than as a side effect;
// `db index-text`: message_ts filled for what was archived without it (db_index_text.ts).
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
import { optionsHelp, optionSpec, type OptionTable, readOptions } from "../cli/options.ts";
import { toJson } from "../cli/output.ts";
import { MIGRATIONS } from "../index/migrations.ts";
import {
  INDEX_TEXT_OPTIONS,
  type IndexTextOptions,
  parseIndexTextArgs,
  runIndexText,
} from "./db_index_text.ts";

const DB_OPTIONS = {
  json: { type: "boolean", help: "one JSON object instead of text" },
  check: { type: "boolean", help: "(status) exit 1 when migrations are pending" },
  ...INDEX_TEXT_OPTIONS,
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(DB_OPTIONS) };

const ACTIONS = ["migrate", "status", "index-text"] as const;
export type DbAction = (typeof ACTIONS)[number];

export interface DbOptions extends CommandSettings {
  action: DbAction;
  json: boolean;
  /** status: exit 1 when migrations are pending. */
  check: boolean;
  /** index-text: what to fill, and how. */
  indexText: IndexTextOptions;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseDbArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): DbOptions {
  const { values, positionals } = parseCommandArgs("db", argv, OPTIONS, true);
  const [action, ...extra] = positionals;
  if (action === undefined) {
    throw usageError("db", "which action? `db migrate`, `db status` or `db index-text`");
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw usageError("db", `unknown action "${action}": use migrate, status or index-text`);
  }
  if (extra.length > 0) throw usageError("db", `unexpected argument "${extra[0]}"`);
  const { json, check } = readOptions("db", { json: DB_OPTIONS.json, check: DB_OPTIONS.check }, values, env);
  if (check && action !== "status") throw usageError("db", "--check belongs to `db status`");
  const own = Object.keys(INDEX_TEXT_OPTIONS).find((f) => values[f] !== undefined);
  if (own !== undefined && action !== "index-text") {
    throw usageError("db", `--${own} belongs to \`db index-text\``);
  }
  const settings = commandSettings(values, env, readConfig);
  return {
    ...settings,
    action: action as DbAction,
    json,
    check,
    indexText: parseIndexTextArgs(values, env, settings.settings, action === "index-text"),
  };
}

export const command: Command = {
  name: "db",
  summary: "index schema: `db status` (version, pending migrations), `db migrate` (upgrade), `db index-text`",
  help: `Usage: housekeeping db status [--json] [--check] [options]
       housekeeping db migrate [--json] [options]
       housekeeping db index-text (--index-text LIST | --hopauth-url URL) [--topic NAME] [--batch N]
                                  [--concurrency N] [options]
       housekeeping db index-text --order-only [--batch N] [options]

status   prints the index schema's version, the newest version this housekeeping knows and the migrations
         still to apply. With --check, exits 1 when any is pending (for deployment scripts).
migrate  applies the pending migrations, each in its own transaction under an advisory lock, so it is safe next to
         running archivers; a database of the original housekeeping (version 1) is upgraded in place. \`archive\`
         also migrates when it starts; the read-only commands (status, verify, query, ...) never do.
index-text  fills message_ts (the text archive-core's search and \`housekeeping search\` read) for the messages
         archived without it, of the topics \`archive\` indexes (with --hopauth-url those hopauth marks
         index_archived_text, fetched once; else the --index-text topics), reading each message from the
         object store. Resumable: a second run goes on with the rows still without text. Prints a JSON
         summary; exit 1 when an object is missing or unreadable (its row stays without text until a later run).
         Each run first gives texts indexed before migration 9 the copies of their row that search orders by
         (migration 9 does that itself for up to 100 000 texts); --order-only does only that, resumably.

Options:
${optionsHelp(DB_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success; 1 on errors (or, with --check, pending migrations); 2 for usage errors.

Examples:
  housekeeping db status
  DATABASE_URL=postgres://archive@db/hop housekeeping db migrate --db-schema housekeeping
  housekeeping db status --check --json
  housekeeping db index-text --index-text 'gcn\\..*'
  HOPAUTH_USERNAME=archiver HOPAUTH_PASSWORD=... housekeeping db index-text \\
    --hopauth-url https://admin.hop.scimma.org/hopauth/api
`,
  async run(argv, ctx) {
    const options = parseDbArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, { action: options.action, check: options.check });
    }
    if (options.action === "index-text") return await runIndexText(options.settings, options.indexText, ctx);
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
