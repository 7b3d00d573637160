// `query` (alias `list`): index rows as JSON lines, for people with jq and for follow-on services.
import {
  SELECTION_COMMAND_OPTIONS,
  type SelectionCommandOptions,
  selectionCommandOptions,
  withReadOnlyIndex,
} from "../cli/read_commands.ts";
import type { Command, CommandContext } from "../cli/command.ts";
import { parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { commandLogger, printConfig } from "../cli/services.ts";
import { hkError } from "../runtime/errors.ts";
import { rowToJson, toJson } from "../cli/output.ts";
import type { Index } from "../index/types.ts";
import { positiveInt, type ValueSource } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable, printableOptions, readOptions } from "../cli/options.ts";
import { describeSelection, SELECTION_HELP } from "../cli/selection.ts";

const QUERY_OPTIONS = {
  limit: {
    type: "string",
    arg: "N",
    help: "at most N rows (default: all)",
    parse: (text: string | undefined, source: ValueSource) => positiveInt(source, text),
  },
  after: {
    type: "string",
    arg: "ID",
    help: "only rows after the row with this id (keyset paging)",
    parse: (text: string | undefined) => afterId(text),
    print: (id: bigint | undefined) => id?.toString(),
  },
} as const satisfies OptionTable;

function afterId(text: string | undefined): bigint | undefined {
  if (text !== undefined && !/^\d+$/.test(text)) {
    throw hkError(
      "USAGE",
      `--after takes the "id" of the last row already seen, got ${JSON.stringify(text)}`,
    );
  }
  return text === undefined ? undefined : BigInt(text);
}

const OPTIONS = { ...SELECTION_COMMAND_OPTIONS, ...optionSpec(QUERY_OPTIONS) };

export interface QueryOptions extends SelectionCommandOptions {
  limit: number | undefined;
  after: bigint | undefined;
}

/** Pure: argv + environment (+ config file text) -> options; `now` (ms) anchors ages such as `--since 24h`. */
export function parseQueryArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  now: bigint,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): QueryOptions {
  const { values } = parseCommandArgs("query", argv, OPTIONS);
  return {
    ...selectionCommandOptions("query", values, env, now, readConfig),
    ...readOptions("query", QUERY_OPTIONS, values, env),
  };
}

const PAGE = 1000;

function help(name: string): string {
  return `Usage: housekeeping ${name} [options]

Prints the index rows of the selected messages as JSON lines on stdout, oldest row first (index order):
  {"id": "17", "uuid": "...", "topic": "...", "partition": 0, "offset": "5", "timestamp": "1705449600000",
   "time": "2024-01-17T00:00:00.000Z", "key": "<object key>", "bucket": "...", "size": 812, "crc32": ...,
   "is_client_uuid": true, "message_crc32": ..., "value_size": 640, "content_sha256": "...", "sender": "...",
   "format": "voevent", "is_test": false, "clash_of": null, "archived_at": "...", "archiver_version": "...",
   "public": false, "media_type": "application/x.voevent", "title": "", "file_name": "", "originator": "",
   "direct_upload": false, "retracted": false}
int64 values are decimal strings. Pages: "id" is a cursor; \`--after ID --limit N\` continues after row ID.
Fetch a message's content with \`housekeeping inspect UUID\` or \`housekeeping export\`.

Options:
${optionsHelp(QUERY_OPTIONS)}
${SELECTION_HELP}
${settingsHelp()}

Exit status: 0 on success (also when nothing matches), 1 on errors, 2 for usage errors.

Examples:
  housekeeping ${name} --topic gcn.circular --since 24h
  housekeeping ${name} --sender alice --format voevent --limit 100
  housekeeping ${name} --uuid 2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b
  housekeeping ${name} --limit 1000 --after 52000 | jq -r .key
`;
}

/** Writes every selected row as a JSON line; returns how many. */
export async function writeRows(
  index: Pick<Index, "select">,
  options: Pick<QueryOptions, "filter" | "limit" | "after">,
  write: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  let written = 0;
  let after = options.after;
  while (!signal.aborted) {
    const want = options.limit === undefined ? PAGE : Math.min(PAGE, options.limit - written);
    if (want <= 0) break;
    const rows = await index.select(options.filter, {
      limit: want,
      ...(after !== undefined ? { after } : {}),
    });
    for (const row of rows) write(toJson(rowToJson(row)) + "\n");
    written += rows.length;
    if (rows.length < want) break;
    after = rows[rows.length - 1]!.id;
  }
  return written;
}

function queryCommand(name: "query" | "list"): Command {
  return {
    name,
    summary: name === "query"
      ? "index rows by topic, time, uuid, sender or format, as JSON lines (keyset paging)"
      : "same as query",
    help: help(name),
    async run(argv: string[], ctx: CommandContext) {
      const options = parseQueryArgs(argv, ctx.env, BigInt(Date.now()));
      if (options.printConfig) {
        return printConfig(ctx, options.settings, {
          selection: describeSelection(options.filter),
          ...printableOptions(QUERY_OPTIONS, options),
        });
      }
      const log = commandLogger(options.settings, ctx);
      return await withReadOnlyIndex(options.settings, ctx, log, async (index) => {
        await writeRows(index, options, ctx.stdout, ctx.shutdown);
        return ctx.shutdown.aborted ? 1 : 0;
      });
    },
  };
}

export const command = queryCommand("query");
export const listCommand = queryCommand("list");
