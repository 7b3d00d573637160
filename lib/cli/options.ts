// A command's own options as one table (flag, value name, default, help), beside SETTINGS (the connection settings
// every command shares, lib/cli/config.ts): the parser spec and the --help lines are generated from it, as
// settingsHelp() does for SETTINGS, so an option cannot be parsed without being documented, nor documented with
// another default than the one the parser uses.
import type { OptionSpec } from "./config.ts";

export interface OptionDef {
  type: "string" | "boolean";
  multiple?: boolean;
  /** A one-letter alias, shown as `--flag, -x`. */
  short?: string;
  /** The value's name in --help (`--limit N`); none for booleans. */
  arg?: string;
  /** The default the parser uses; --help appends " (default X)". */
  default?: number | string;
  /** One line of help; more lines are indented under the first. */
  help: string | readonly string[];
}

export type OptionTable = Readonly<Record<string, OptionDef>>;

/** The column where help text starts, as in settingsHelp(). */
const HELP_COLUMN = 23;

/** The table as node:util parseArgs options. */
export function optionSpec(table: OptionTable): Record<string, OptionSpec> {
  return Object.fromEntries(
    Object.entries(table).map(([flag, d]) => [
      flag,
      { type: d.type, ...(d.multiple ? { multiple: true } : {}), ...(d.short ? { short: d.short } : {}) },
    ]),
  );
}

/** The table's --help lines: `  --flag ARG` padded to the help column (`column`), then the help. */
export function optionsHelp(table: OptionTable, column = HELP_COLUMN): string {
  return Object.entries(table).map(([flag, d]) => {
    const name = `--${flag}${d.short ? `, -${d.short}` : ""}${d.arg ? ` ${d.arg}` : ""}`;
    const [first, ...more] = typeof d.help === "string" ? [d.help] : d.help;
    const def = d.default === undefined ? "" : ` (default ${d.default})`;
    return [`  ${name.padEnd(column - 3)} ${first}${def}`, ...more.map((l) => `${" ".repeat(column)}${l}`)]
      .join("\n");
  }).join("\n");
}
