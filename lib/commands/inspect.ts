// `inspect`: one archived message as readable JSON, its value as raw bytes, or its stored BSON object as a file.
import { withReadOnlyServices } from "../cli/read_commands.ts";
import type { Command, CommandContext } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { type CommandSettings, commandSettings, printConfig, type Services } from "../cli/services.ts";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { usageError } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable, printableOptions, readOptions } from "../cli/options.ts";
import { rowToJson, toJson } from "../cli/output.ts";
import { isUuidText } from "../format/identity.ts";
import type { StoredRow } from "../index/types.ts";
import { parseObjectKey } from "../format/keys.ts";
import { decodeArchiveObject, toArchiveJson } from "../format/record.ts";

const INSPECT_OPTIONS = {
  key: {
    type: "string",
    arg: "KEY",
    help: "read the object under this key (e.g. an orphan `verify` reported); no index row needed",
  },
  raw: {
    type: "boolean",
    help: "write the value's bytes, exactly as archived, to stdout (nothing else); fails for a tombstone",
  },
  output: {
    type: "string",
    short: "o",
    arg: "FILE",
    help: "save the stored BSON object, byte for byte, to FILE (the JSON is still printed unless --raw)",
  },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(INSPECT_OPTIONS) };

export interface InspectOptions extends CommandSettings {
  /** Exactly one of uuid and key. */
  uuid: string | undefined;
  key: string | undefined;
  raw: boolean;
  output: string | undefined;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseInspectArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): InspectOptions {
  const { values, positionals } = parseCommandArgs("inspect", argv, OPTIONS, true);
  const own = readOptions("inspect", INSPECT_OPTIONS, values, env);
  const key = own.key;
  if (positionals.length > 1) throw usageError("inspect", `one UUID at a time, got ${positionals.length}`);
  const [given] = positionals;
  if (given !== undefined && key !== undefined) throw usageError("inspect", "give a UUID or --key, not both");
  if (given === undefined && key === undefined) {
    throw usageError("inspect", "which message? give its UUID (or --key KEY)");
  }
  if (given !== undefined && !isUuidText(given.toLowerCase())) {
    throw usageError("inspect", `${JSON.stringify(given)} is not a UUID (8-4-4-4-12 hex)`);
  }
  return {
    ...commandSettings(values, env, readConfig),
    uuid: given?.toLowerCase(),
    ...own,
  };
}

export const command: Command = {
  name: "inspect",
  summary: "show one archived message as JSON (--raw: its value bytes; --output: its BSON object)",
  help: `Usage: housekeeping inspect UUID [options]
       housekeeping inspect --key OBJECT_KEY [options]

Looks the message up in the index, reads its object from the store and prints both as JSON: the index row
("index") and the decoded object ("object": topic, partition, offset, timestamp, key, headers, value, annotations).
Byte strings (value, key, header values) appear as {"utf8": "..."} when they are valid UTF-8 text, else as
{"base64": "..."}; int64 numbers are decimal strings. Objects of both layouts are read: the current one
(archive-core's) and the original housekeeping's ({format, content} message, "layout": "housekeeping-v1").

Options:
${optionsHelp(INSPECT_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success; 1 when the message is not indexed, its object is missing or does not decode, or --raw
meets a tombstone; 2 for usage errors.

Examples:
  housekeeping inspect 2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b
  housekeeping inspect 2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b --raw > alert.xml
  housekeeping inspect 2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b -o message.bson
  housekeeping inspect --key gcn.circular/2023/01/17/2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b.bson
`,
  async run(argv, ctx) {
    const options = parseInspectArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        uuid: options.uuid ?? null,
        ...printableOptions(INSPECT_OPTIONS, options),
      });
    }
    return await withReadOnlyServices(
      "inspect",
      options.settings,
      ctx,
      (services) => inspect(options, services, ctx),
    );
  },
};

async function findRow(
  options: InspectOptions,
  services: Services,
): Promise<{ key: string; row: StoredRow | null }> {
  if (options.key !== undefined) {
    const uuid = parseObjectKey(options.key)?.uuid;
    const row = uuid === undefined ? null : await services.index.byUuid(uuid);
    // A row of the same uuid under another key describes another copy, not this object.
    return { key: options.key, row: row?.key === options.key ? row : null };
  }
  const row = await services.index.byUuid(options.uuid!);
  if (row === null) {
    throw hkError(
      "INSPECT_NOT_FOUND",
      `no index row for uuid ${options.uuid}; if its object exists without one, \`housekeeping verify\` reports ` +
        "it as an orphan and `inspect --key KEY` reads it",
    );
  }
  return { key: row.key, row };
}

async function inspect(options: InspectOptions, services: Services, ctx: CommandContext): Promise<number> {
  const { key, row } = await findRow(options, services);
  const bytes = await services.store.get(key);
  if (bytes === null) {
    throw hkError(
      "INSPECT_OBJECT_MISSING",
      `the object ${key} is not in ${services.store.url}` +
        (row !== null ? " although the index has a row for it: run `housekeeping verify`" : ""),
    );
  }
  if (options.output !== undefined) {
    try {
      await Deno.writeFile(options.output, bytes);
    } catch (e) {
      throw hkError(
        "INSPECT_OUTPUT_FAILED",
        `cannot write ${options.output}: ${errorMessage(e)}; fix --output`,
      );
    }
  }
  const head = {
    key,
    store: services.store.url,
    size: bytes.length,
    index: row === null ? null : rowToJson(row),
  };
  let decoded;
  try {
    decoded = decodeArchiveObject(bytes);
  } catch (e) {
    if (!options.raw) ctx.stdout(toJson({ ...head, object: null, error: errorMessage(e) }, 2) + "\n");
    throw hkError("INSPECT_UNDECODABLE", `${key} does not decode: ${errorMessage(e)}`);
  }
  if (options.raw) {
    if (decoded.value === null) {
      throw hkError(
        "INSPECT_TOMBSTONE",
        `${key} is a tombstone (null value): there are no value bytes to write`,
      );
    }
    await ctx.stdoutBytes(decoded.value);
    return 0;
  }
  ctx.stdout(toJson({ ...head, object: toArchiveJson(decoded) }, 2) + "\n");
  return 0;
}
