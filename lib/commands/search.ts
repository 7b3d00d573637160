// `search`: archived messages by their text, as archive-core's search_message_text finds them (websearch_to_tsquery
// over message_ts, which `archive --index-text` fills), best match first.
import type { Command, CommandContext } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { positiveInt, usageError } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable } from "../cli/options.ts";
import { formatTimeShort, renderTable, rowToJson, toJson } from "../cli/output.ts";
import { withReadOnlyIndex } from "../cli/read_commands.ts";
import { parseTimeArg } from "../cli/selection.ts";
import { commandLogger, type CommandSettings, commandSettings, printConfig } from "../cli/services.ts";
import type { SearchFilter, SearchHit } from "../index/types.ts";

const SEARCH_OPTIONS = {
  topic: { type: "string", multiple: true, arg: "NAME", help: "only this topic (repeatable)" },
  since: {
    type: "string",
    arg: "TIME",
    help: "record timestamp >= TIME (2024-01-17, 2024-01-17T12:00:00Z, ms, or an age: 24h, 7d)",
  },
  until: { type: "string", arg: "TIME", help: "record timestamp < TIME" },
  limit: { type: "string", arg: "N", default: 20, help: "at most N messages" },
  json: { type: "boolean", help: "JSON lines instead of a table" },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(SEARCH_OPTIONS) };
/** Characters of a query at most: websearch_to_tsquery's work grows with it, and no one types more. */
const MAX_QUERY = 1000;

export interface SearchOptions extends CommandSettings {
  query: string;
  filter: SearchFilter;
  limit: number;
  json: boolean;
}

/** Pure: argv + environment (+ config file text) -> options; `now` (ms) anchors ages such as `--since 24h`. */
export function parseSearchArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  now: bigint,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): SearchOptions {
  const { values, positionals } = parseCommandArgs("search", argv, OPTIONS, true);
  // `search GRB 221009A` and `search "GRB 221009A"` are the same query: words, as a web search box takes them.
  const query = positionals.join(" ").trim();
  if (query === "") {
    throw usageError("search", 'give the words to search for, e.g. housekeeping search "GRB 221009A"');
  }
  if (query.length > MAX_QUERY) {
    throw usageError("search", `the query is longer than ${MAX_QUERY} characters`);
  }
  const filter: SearchFilter = {};
  if (values.topic !== undefined) filter.topics = (values.topic as string[]).map(String);
  if (typeof values.since === "string") filter.since = parseTimeArg("search", "since", values.since, now);
  if (typeof values.until === "string") filter.until = parseTimeArg("search", "until", values.until, now);
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw usageError("search", "--since must be before --until (the range is empty)");
  }
  return {
    ...commandSettings(values, env, readConfig),
    query,
    filter,
    limit: positiveInt(
      { command: "search", flag: "limit" },
      values.limit as string | undefined,
      SEARCH_OPTIONS.limit.default,
    ),
    json: values.json === true,
  };
}

/** Matches counted at most for the table's last line: a common word matches millions. */
export const COUNT_AT_MOST = 10_000;

/** Pure: what a person reads: one line per message, then how many matched in all (counted up to COUNT_AT_MOST). */
export function renderHits(hits: readonly SearchHit[], total: bigint): string {
  const table = renderTable(
    [
      { title: "RANK", align: "right" },
      { title: "TIME" },
      { title: "TOPIC" },
      { title: "UUID" },
      { title: "TITLE / TYPE" },
    ],
    hits.map((h) => [
      h.rank.toFixed(4),
      formatTimeShort(h.timestamp),
      h.topic,
      h.uuid,
      // Headers are hostile: nothing that could move the terminal's cursor or colour it reaches it.
      (h.catalog?.title || h.catalog?.mediaType || "").replace(/[\p{Cc}\p{Cf}]/gu, "?").slice(0, 60),
    ]),
  );
  const all = total > BigInt(COUNT_AT_MOST) ? `more than ${COUNT_AT_MOST}` : String(total);
  return `${table}${hits.length} of ${all} matching message${total === 1n ? "" : "s"}\n`;
}

const HELP = `Usage: housekeeping search WORDS [options]

Finds archived messages by their text, best match first, with archive-core's query language (PostgreSQL's
websearch_to_tsquery over message_ts): words must all appear (stemmed: "afterglows" finds "afterglow"),
"quoted words" must appear in that order, "or" between words accepts either, -word excludes. Only messages of
topics archived with --index-text (or indexed by archive-core) have text to find. The newest 100 matches (or
--limit, if more) are ranked, so that a word found in millions of messages is answered from the recent ones in
milliseconds; narrow with --topic, --since or more words to rank older ones.

Prints a table, then how many messages match in all; with --json, one JSON object per message (the fields of
\`housekeeping query\`, plus "rank"), best first. Fetch a message with \`housekeeping inspect UUID\`.

Options:
${optionsHelp(SEARCH_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success (also when nothing matches), 1 on errors, 2 for usage errors.

Examples:
  housekeeping search "GRB 221009A"
  housekeeping search '"GRB 221009A" afterglow -retraction' --topic gcn.circular --since 30d
  housekeeping search IceCube neutrino --json --limit 100 | jq -r .uuid
`;

export const command: Command = {
  name: "search",
  summary: "archived messages by their text (archive-core's search), best match first",
  help: HELP,
  async run(argv: string[], ctx: CommandContext) {
    const options = parseSearchArgs(argv, ctx.env, BigInt(Date.now()));
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        query: options.query,
        topics: options.filter.topics ?? null,
        since: options.filter.since?.toString() ?? null,
        until: options.filter.until?.toString() ?? null,
        limit: options.limit,
      });
    }
    const log = commandLogger(options.settings, ctx);
    return await withReadOnlyIndex(options.settings, ctx, log, async (index) => {
      const hits = await index.search(options.query, options.filter, options.limit);
      if (options.json) {
        for (const hit of hits) ctx.stdout(toJson({ ...rowToJson(hit), rank: hit.rank }) + "\n");
      } else {
        ctx.stdout(renderHits(hits, await index.countSearch(options.query, options.filter, COUNT_AT_MOST)));
      }
      return 0;
    });
  },
};
