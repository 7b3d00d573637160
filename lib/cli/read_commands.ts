// What the commands that read the archive (query, export, verify, inspect, status) share: the selection flags on
// top of the connection flags, and the archive opened read-only. Each command keeps its own pure argument parser
// and help text; only the common part of them lives here.
import type { CommandContext } from "./command.ts";
import { CONNECTION_OPTIONS, type OptionSpec, type ParsedArgs, type ResolvedSettings } from "./config.ts";
import {
  type CommandSettings,
  commandSettings,
  connectServices,
  openIndex,
  requireCurrentSchema,
  type Services,
} from "./services.ts";
import type { Index, SelectFilter } from "../index/types.ts";
import type { Logger } from "../runtime/log.ts";
import { parseSelection, SELECTION_OPTIONS } from "./selection.ts";

/** The flags of a command that works on a selection of archived messages, before its own. */
export const SELECTION_COMMAND_OPTIONS: Record<string, OptionSpec> = {
  ...CONNECTION_OPTIONS,
  ...SELECTION_OPTIONS,
};

export interface SelectionCommandOptions extends CommandSettings {
  filter: SelectFilter;
}

/** Pure but for reading the --config file; `now` (ms) anchors ages such as `--since 24h`. */
export function selectionCommandOptions(
  command: string,
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
  now: bigint,
  readConfig: (path: string) => string,
): SelectionCommandOptions {
  return { ...commandSettings(values, env, readConfig), filter: parseSelection(command, values, now) };
}

/**
 * Runs `fn` on the store and the index, closed afterwards. Read-only commands never migrate: an index whose
 * schema is not the one this program reads is refused before `fn` runs.
 */
export async function withReadOnlyServices<T>(
  command: string,
  settings: ResolvedSettings,
  ctx: CommandContext,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const services = await connectServices(settings, ctx, {
    clientId: `housekeeping-${command}`,
    migrate: false,
  });
  try {
    await requireCurrentSchema(services.index);
    return await fn(services);
  } finally {
    await services.close();
  }
}

/** withReadOnlyServices for commands that need the index only. */
export async function withReadOnlyIndex<T>(
  settings: ResolvedSettings,
  ctx: CommandContext,
  log: Logger,
  fn: (index: Index) => Promise<T>,
): Promise<T> {
  const idx = await openIndex(settings, ctx.env, log);
  try {
    await requireCurrentSchema(idx.index);
    return await fn(idx.index);
  } finally {
    await idx.close();
  }
}
