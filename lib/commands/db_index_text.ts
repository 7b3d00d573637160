// `db index-text`: its options and its run (lib/text/backfill.ts does the work). Kept apart from db.ts, whose
// other actions only touch the schema: this one reads the object store as well.
import type { CommandContext } from "../cli/command.ts";
import type { ParsedArgs, ResolvedSettings } from "../cli/config.ts";
import { positiveInt, usageError } from "../cli/flags.ts";
import { toJson } from "../cli/output.ts";
import { commandProgress } from "../cli/progress.ts";
import { connectServices, requireCurrentSchema } from "../cli/services.ts";
import { backfillText } from "../text/backfill.ts";
import { type TopicList, topicListSetting } from "../topics/public_topics.ts";

export interface IndexTextOptions {
  /** The --index-text list (unset: nothing to index). */
  list: TopicList;
  topics: string[] | undefined;
  batch: number;
  concurrency: number;
  quiet: boolean;
}

/** Pure: the index-text part of `db`'s flags. `required`: the action is index-text, so the list must be set. */
export function parseIndexTextArgs(
  values: ParsedArgs["values"],
  settings: ResolvedSettings,
  required: boolean,
): IndexTextOptions {
  const list = topicListSetting("db", settings, "index-text");
  if (required && list.entries.length === 0) {
    throw usageError(
      "db",
      "which topics? set --index-text (or HOUSEKEEPING_INDEX_TEXT) as for `archive`, e.g. --index-text '*'",
    );
  }
  const topics = values.topic as string[] | undefined;
  return {
    list,
    topics: topics?.map(String),
    batch: positiveInt({ command: "db", flag: "batch" }, values.batch as string | undefined, 500),
    concurrency: positiveInt(
      { command: "db", flag: "concurrency" },
      values.concurrency as string | undefined,
      8,
    ),
    quiet: values.quiet === true,
  };
}

export async function runIndexText(
  settings: ResolvedSettings,
  options: IndexTextOptions,
  ctx: CommandContext,
): Promise<number> {
  const services = await connectServices(settings, ctx, { clientId: "housekeeping-db", migrate: false });
  try {
    await requireCurrentSchema(services.index);
    const result = await backfillText({
      index: services.index,
      store: services.store,
      isIndexed: options.list.has,
      ...(options.topics !== undefined ? { topics: options.topics } : {}),
      batch: options.batch,
      concurrency: options.concurrency,
      signal: ctx.shutdown,
      log: services.log,
      progress: (total) => commandProgress(ctx, { label: "index-text", total, quiet: options.quiet }),
    });
    ctx.stdout(
      toJson({
        topics: result.topics,
        indexed: result.indexed,
        failed: result.failed,
        last_id: result.lastId?.toString() ?? null,
        interrupted: result.interrupted,
      }) + "\n",
    );
    return result.failed === 0 && !result.interrupted ? 0 : 1;
  } finally {
    await services.close();
  }
}
