// `export`: selected messages as plain files, for follow-on services that prefer a directory to S3 and BSON.
// Each message becomes DIR/<topic>/<uuid>.value (the value, byte for byte) and DIR/<topic>/<uuid>.meta.json; both
// are written under a temporary name and renamed, value first, so a watcher that sees a .meta.json sees a
// complete message.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  SELECTION_COMMAND_OPTIONS,
  type SelectionCommandOptions,
  selectionCommandOptions,
  withReadOnlyServices,
} from "../cli/read_commands.ts";
import type { Command, CommandContext } from "../cli/command.ts";
import { sha256Hex } from "../format/checksum.ts";
import { parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { printConfig, type Services } from "../cli/services.ts";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { positiveInt, usageError, type ValueSource } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable, printableOptions, readOptions } from "../cli/options.ts";
import { rowToJson, toJson } from "../cli/output.ts";
import type { StoredRow } from "../index/types.ts";
import { commandProgress, type Progress } from "../cli/progress.ts";
import { decodeArchiveObject, type DecodedArchiveObject, toArchiveJson } from "../format/record.ts";
import { createLimiter, settleAll, withRetry } from "../runtime/retry.ts";
import { describeSelection, SELECTION_HELP } from "../cli/selection.ts";

const EXPORT_OPTIONS = {
  dir: { type: "string", arg: "DIR", help: "target directory (created if missing)" },
  limit: {
    type: "string",
    arg: "N",
    help: "at most N messages",
    parse: (text: string | undefined, source: ValueSource) => positiveInt(source, text),
  },
  after: {
    type: "string",
    arg: "ID",
    help: "only rows after the index row with this id (continue an export)",
    parse: (text: string | undefined) => afterId(text),
    print: (id: bigint | undefined) => id?.toString(),
  },
  concurrency: {
    type: "string",
    arg: "N",
    default: 16,
    help: "objects read at once",
    parse: { int: "concurrency" },
  },
  quiet: { type: "boolean", help: "no progress output" },
} as const satisfies OptionTable;

const OPTIONS = { ...SELECTION_COMMAND_OPTIONS, ...optionSpec(EXPORT_OPTIONS) };

function afterId(text: string | undefined): bigint | undefined {
  if (text !== undefined && !/^\d+$/.test(text)) {
    throw usageError(
      "export",
      `--after takes the "id" of the last row already exported, got ${JSON.stringify(text)}`,
    );
  }
  return text === undefined ? undefined : BigInt(text);
}

export interface ExportOptions extends SelectionCommandOptions {
  dir: string;
  limit: number | undefined;
  after: bigint | undefined;
  concurrency: number;
  quiet: boolean;
}

/** Pure: argv + environment (+ config file text) -> options; `now` (ms) anchors ages such as `--since 24h`. */
export function parseExportArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  now: bigint,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): ExportOptions {
  const { values, positionals } = parseCommandArgs("export", argv, OPTIONS, true);
  if (positionals.length > 1) throw usageError("export", `one directory, got ${positionals.join(" ")}`);
  const own = readOptions("export", EXPORT_OPTIONS, values, env);
  const dir = own.dir ?? positionals[0];
  if (positionals.length === 1 && own.dir !== undefined) {
    throw usageError("export", "give the directory once (DIR or --dir)");
  }
  if (dir === undefined || dir === "") throw usageError("export", "where to? give a directory (--dir DIR)");
  return { ...selectionCommandOptions("export", values, env, now, readConfig), ...own, dir };
}

export const command: Command = {
  name: "export",
  summary: "write selected messages to a directory: a value file and a metadata JSON file each",
  help: `Usage: housekeeping export --dir DIR [selection] [options]
       housekeeping export DIR [selection] [options]

Writes every selected message to DIR:
  DIR/<topic>/<uuid>.value       the record value, byte for byte (absent for a tombstone)
  DIR/<topic>/<uuid>.meta.json   {"uuid", "topic", "partition", "offset", "timestamp", "timestampType", "key",
                                  "headers", "valueFile", "valueSize", "valueSha256", ..., "index": <the row as
                                  \`query\` prints it>}
Byte strings in the metadata (key, header values) are {"utf8": "..."} or {"base64": "..."}; int64 values are
decimal strings. Files are renamed into place value first, so a complete .meta.json means a complete message.
Existing files of the same message are replaced. At the end, one JSON line on stdout:
  {"exported": N, "failed": N, "bytes": N, "dir": "...", "last_id": "..."}   (last_id: for --after)

Options:
${optionsHelp(EXPORT_OPTIONS)}
${SELECTION_HELP}
${settingsHelp()}

Exit status: 0 when every selected message was exported; 1 when an object is missing or does not decode (the others
are still exported; run \`housekeeping verify\`), or on errors; 2 for usage errors.

Examples:
  housekeeping export --dir ./circulars --topic gcn.circular --since 2024-01-01 --until 2024-02-01
  housekeeping export ./mine --sender alice --format voevent
`,
  async run(argv, ctx) {
    const options = parseExportArgs(argv, ctx.env, BigInt(Date.now()));
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        selection: describeSelection(options.filter),
        ...printableOptions(EXPORT_OPTIONS, options),
      });
    }
    return await withReadOnlyServices(
      "export",
      options.settings,
      ctx,
      (services) => runExport(options, services, ctx),
    );
  },
};

/** Pure: the metadata file of one message. */
export function exportMetadata(row: StoredRow, d: DecodedArchiveObject, valueFile: string | null) {
  const { value: _value, ...object } = toArchiveJson(d) as Record<string, unknown>;
  return {
    uuid: row.uuid,
    ...object,
    valueFile,
    valueSize: d.value?.length ?? null,
    valueSha256: d.value === null ? null : sha256Hex(d.value),
    sender: row.sender,
    format: row.format,
    index: rowToJson(row),
  };
}

async function writeAtomically(dir: string, name: string, body: Uint8Array | string): Promise<void> {
  const tmp = join(dir, `.${name}.${crypto.randomUUID()}.tmp`);
  await writeFile(tmp, body);
  await rename(tmp, join(dir, name));
}

async function runExport(options: ExportOptions, services: Services, ctx: CommandContext): Promise<number> {
  const { store, index, log } = services;
  const signal = ctx.shutdown;
  const total = Number(await index.count(options.filter));
  const bar: Progress = commandProgress(ctx, {
    label: "export",
    quiet: options.quiet,
    total: options.limit === undefined ? total : Math.min(total, options.limit),
  });
  const slots = createLimiter(options.concurrency);
  const result = { exported: 0, failed: 0, bytes: 0 };
  const dirs = new Set<string>();

  async function exportOne(row: StoredRow): Promise<void> {
    const bytes = await withRetry(() => store.get(row.key), { what: `GET ${row.key}`, signal, log });
    let d: DecodedArchiveObject;
    try {
      if (bytes === null) throw new Error(`the object is missing from ${store.url}`);
      d = decodeArchiveObject(bytes);
    } catch (e) {
      result.failed++;
      log.error("cannot export message; run `housekeeping verify`", {
        uuid: row.uuid,
        key: row.key,
        error: errorMessage(e),
      });
      bar.tick(1);
      return;
    }
    const dir = join(options.dir, row.topic);
    if (!dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      dirs.add(dir);
    }
    const valueFile = d.value === null ? null : `${row.uuid}.value`;
    if (valueFile !== null) await writeAtomically(dir, valueFile, d.value!);
    await writeAtomically(dir, `${row.uuid}.meta.json`, toJson(exportMetadata(row, d, valueFile), 2) + "\n");
    result.exported++;
    result.bytes += d.value?.length ?? 0;
    bar.tick(1, d.value?.length ?? 0);
  }

  let after = options.after;
  let done = 0;
  try {
    await mkdir(options.dir, { recursive: true });
  } catch (e) {
    throw hkError("EXPORT_DIR_FAILED", `cannot create ${options.dir}: ${errorMessage(e)}; fix --dir`);
  }
  while (!signal.aborted) {
    const want = options.limit === undefined ? 1000 : Math.min(1000, options.limit - done);
    if (want <= 0) break;
    const rows = await index.select(options.filter, {
      limit: want,
      ...(after !== undefined ? { after } : {}),
    });
    if (rows.length === 0) break;
    // A page completes before the next starts, so last_id is a safe point to continue from.
    await settleAll(
      rows.map((row) => slots.run(1, () => signal.aborted ? Promise.resolve() : exportOne(row))),
    );
    if (signal.aborted) break;
    done += rows.length;
    after = rows[rows.length - 1]!.id;
  }
  bar.done({ exported: result.exported, failed: result.failed });
  ctx.stdout(
    toJson({ ...result, dir: options.dir, last_id: after?.toString() ?? null, interrupted: signal.aborted }) +
      "\n",
  );
  return result.failed === 0 && !signal.aborted ? 0 : 1;
}
