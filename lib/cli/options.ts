// A command's own options as one table (flag, environment variable, default, help, how to read it), beside SETTINGS
// (the connection settings every command shares, lib/cli/config.ts): the parser spec, the --help lines, the typed
// values and the --print-config output are all made from it, as they are from SETTINGS, so an option cannot be
// parsed without being documented, documented with another default than the one the parser uses, or left out of
// --print-config.
import type { OptionSpec, ParsedArgs } from "./config.ts";
import {
  booleanFlagOrEnv,
  flagOrEnv,
  intInRange,
  LIMITS,
  numberInRange,
  oneOf,
  type ValueSource,
} from "./flags.ts";
import { maskSecret } from "./config.ts";

type Range = { readonly min: number; readonly max: number };

/**
 * How an option's text becomes its value: an integer or a number in one of the LIMITS (or any range), one of a few
 * words, or a function of the text (`string[]` for a `multiple` option) and where it came from, for its errors.
 * Without one the value is the text itself.
 */
export type OptionParse =
  | { readonly int: keyof typeof LIMITS | Range }
  | { readonly number: keyof typeof LIMITS | Range }
  | { readonly oneOf: readonly string[]; readonly ignoreCase?: boolean }
  // deno-lint-ignore no-explicit-any
  | ((text: any, source: ValueSource) => unknown);

export interface OptionDef {
  type: "string" | "boolean";
  multiple?: boolean;
  /** A one-letter alias, shown as `--flag, -x`. */
  short?: string;
  /** The value's name in --help (`--limit N`); none for booleans. */
  arg?: string;
  /**
   * The environment variable read when the flag is absent (empty counts as unset). --help shows it where the help
   * says `{env}`, else appends it to the last help line, or puts it there alone when that line is "".
   */
  env?: string;
  /**
   * The value when neither flag nor variable is given, parsed like them. --help shows it: where the help says
   * `{default}`, else as " (default X)" after the first line.
   */
  default?: number | string;
  /** One line of help; more lines are indented under the first. */
  help: string | readonly string[];
  /** The part of the command's help this option is listed in (optionsHelp's `group`); none: the main list. */
  group?: string;
  parse?: OptionParse;
  /** Its value in --print-config (default: the value, null when absent), or false to leave it out. */
  // deno-lint-ignore no-explicit-any
  print?: false | ((value: any) => unknown);
  /** Masked in --print-config, as the secret settings are. */
  secret?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionDef>>;

/** The type of one option's value as readOptions returns it. */
export type OptionValue<D> = D extends { parse: (...args: never[]) => infer R } ? R
  : D extends { type: "boolean" } ? boolean
  : D extends { parse: { oneOf: readonly (infer C)[] } } ? C
  : D extends { parse: { int: unknown } | { number: unknown } } ? D extends { default: number } ? number
    : number | undefined
  : D extends { multiple: true } ? string[] | undefined
  : D extends { default: string } ? string
  : string | undefined;

export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T]: OptionValue<T[K]> };

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

/**
 * Every option of the table, typed: the flag, else its environment variable, else the default, through its parser.
 * A bad value is a USAGE error from the flag and a CONFIG_INVALID naming the variable from the environment.
 */
export function readOptions<T extends OptionTable>(
  command: string,
  table: T,
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
): OptionValues<T> {
  const out: Record<string, unknown> = {};
  for (const [flag, d] of Object.entries(table)) out[flag] = readOption(command, flag, d, values, env);
  return out as OptionValues<T>;
}

function readOption(
  command: string,
  flag: string,
  d: OptionDef,
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
): unknown {
  if (d.type === "boolean") {
    return d.env === undefined ? values[flag] === true : booleanFlagOrEnv(command, flag, values, env, d.env);
  }
  const parse = d.parse;
  if (d.multiple) {
    const given = values[flag] as string[] | undefined;
    const texts = given ?? (d.default === undefined ? undefined : [String(d.default)]);
    return typeof parse === "function" ? parse(texts, { command, flag }) : texts;
  }
  const [source, given] = d.env === undefined
    ? [{ command, flag }, values[flag] as string | undefined]
    : flagOrEnv(command, flag, values, env, d.env);
  if (typeof parse === "function") return parse(given ?? defaultText(d), source);
  if (given === undefined) return d.default;
  if (parse === undefined) return given;
  if ("int" in parse) return intInRange(source, given, rangeOf(parse.int), 0);
  if ("number" in parse) return numberInRange(source, given, rangeOf(parse.number));
  return oneOf(source, given, parse.oneOf, given, { ignoreCase: parse.ignoreCase });
}

function defaultText(d: OptionDef): string | undefined {
  return d.default === undefined ? undefined : String(d.default);
}

function rangeOf(range: keyof typeof LIMITS | Range): Range {
  return typeof range === "string" ? LIMITS[range] : range;
}

/**
 * The table's --help lines (those of one `group`, or of none): `  --flag ARG` padded to the help `column`, then
 * the help, the default and the environment variable, as settingsHelp() shows the connection settings.
 */
export function optionsHelp(
  table: OptionTable,
  { group, column = HELP_COLUMN }: { group?: string; column?: number } = {},
): string {
  return Object.entries(table).filter(([, d]) => d.group === group).map(([flag, d]) => {
    const name = `--${flag}${d.short ? `, -${d.short}` : ""}${d.arg ? ` ${d.arg}` : ""}`;
    const lines = typeof d.help === "string" ? [d.help] : [...d.help];
    const inline = (field: string) => lines.some((l) => l.includes(field));
    const filled = lines.map((l) =>
      l.replaceAll("{default}", String(d.default)).replaceAll("{env}", d.env ?? "")
    );
    if (d.default !== undefined && !inline("{default}")) filled[0] += ` (default ${d.default})`;
    if (d.env !== undefined && !inline("{env}")) {
      const env = `[env ${d.env}${d.type === "boolean" ? "=true|false" : ""}]`;
      const last = filled.length - 1;
      filled[last] = filled[last] === "" ? env : `${filled[last]} ${env}`;
    }
    const [first, ...more] = filled;
    // A name wider than the column keeps two spaces before its help, so the two still read apart.
    const padded = name.length > column - 3 ? `${name} ` : name.padEnd(column - 3);
    return [`  ${padded} ${first}`, ...more.map((l) => `${" ".repeat(column)}${l}`)].join("\n");
  }).join("\n");
}

/**
 * The options' values for --print-config, keyed by flag: each as its `print` shows it (null when absent), secrets
 * masked; options with `print: false` (what the output already shows another way) left out.
 */
export function printableOptions<T extends OptionTable>(
  table: T,
  parsed: OptionValues<T>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, d] of Object.entries(table)) {
    if (d.print === false) continue;
    const value = (parsed as Record<string, unknown>)[flag];
    const shown = d.print === undefined ? value : d.print(value);
    out[flag] = shown === undefined
      ? null
      : d.secret && typeof shown === "string"
      ? maskSecret(shown)
      : shown;
  }
  return out;
}
