// `db index-text`: message_ts for rows archived while their topic's text was not indexed (or by an archiver that
// never indexed), read back from the objects. Pages by id through the rows still without text, so a run that
// stops (or fails) is resumed by running it again; memory holds one page of texts and `concurrency` objects. Kept
// apart from db.ts, whose other actions only touch the schema: this one reads the object store as well.
import type { CommandContext } from "../cli/command.ts";
import type { ParsedArgs, ResolvedSettings } from "../cli/config.ts";
import { positiveInt, usageError, type ValueSource } from "../cli/flags.ts";
import { type OptionTable, readOptions } from "../cli/options.ts";
import { toJson } from "../cli/output.ts";
import { commandProgress, type Progress } from "../cli/progress.ts";
import { connectServices, requireCurrentSchema, topicListSetting } from "../cli/services.ts";
import { decodeArchiveObject } from "../format/record.ts";
import type { Index, RowText } from "../index/types.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import { createLimiter, settleAll, withRetry } from "../runtime/retry.ts";
import type { BlobStore } from "../store/types.ts";
import { indexableText } from "../text/extract.ts";
import { HOPAUTH_OPTIONS } from "../cli/hopauth_settings.ts";
import { fetchTopicPolicy, type PolicySettings, policySettings } from "../cli/topic_policy.ts";

export const INDEX_TEXT_OPTIONS = {
  topic: { type: "string", multiple: true, arg: "NAME", help: "(index-text) only this topic (repeatable)" },
  batch: {
    type: "string",
    arg: "N",
    default: 500,
    help: "(index-text) rows per page",
    parse: (text: string, source: ValueSource) => positiveInt(source, text)!,
  },
  concurrency: {
    type: "string",
    arg: "N",
    default: 8,
    help: "(index-text) objects read at once",
    parse: (text: string, source: ValueSource) => positiveInt(source, text)!,
  },
  quiet: { type: "boolean", help: "(index-text) no progress on stderr" },
  "order-only": {
    type: "boolean",
    help:
      "(index-text) only give texts indexed before migration 9 the copies search orders by; no policy needed",
  },
  // (index-text) as for `archive`: with --hopauth-url, hopauth's index_archived_text decides, not --index-text.
  ...HOPAUTH_OPTIONS,
} as const satisfies OptionTable;

export interface IndexTextOptions {
  /**
   * Which topics' text to index, as `archive` decides: with --hopauth-url those hopauth marks
   * index_archived_text, else the --index-text list (unset: nothing to index).
   */
  policy: PolicySettings;
  topics: string[] | undefined;
  batch: number;
  concurrency: number;
  quiet: boolean;
  /** Only the copies of migration 9 (backfillTextOrder), no text indexed: needs no policy. */
  orderOnly: boolean;
}

/** Pure: the index-text part of `db`'s flags. `required`: the action is index-text, so the list must be set. */
export function parseIndexTextArgs(
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
  settings: ResolvedSettings,
  required: boolean,
): IndexTextOptions {
  const own = readOptions("db", INDEX_TEXT_OPTIONS, values, {});
  // Only index-text needs the policy (and hopauth's credential): `db status` and --order-only work without them.
  required &&= !own["order-only"];
  const policy: PolicySettings = required ? policySettings("db", values, env, settings) : {
    publicTopics: { entries: [], isPublic: () => false },
    indexText: topicListSetting("db", settings, "index-text"),
  };
  if (required && policy.hopauth === undefined && policy.indexText.entries.length === 0) {
    throw usageError(
      "db",
      "which topics? set --index-text (or HOUSEKEEPING_INDEX_TEXT) as for `archive`, e.g. --index-text '*', " +
        "or --hopauth-url to index the topics hopauth marks index_archived_text",
    );
  }
  return {
    policy,
    topics: own.topic,
    batch: own.batch,
    concurrency: own.concurrency,
    quiet: own.quiet,
    orderOnly: own["order-only"],
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
    const ordered = await backfillTextOrder({
      index: services.index,
      batch: options.batch,
      signal: ctx.shutdown,
      progress: (total) => commandProgress(ctx, { label: "text order", total, quiet: options.quiet }),
    });
    if (options.orderOnly) {
      ctx.stdout(toJson({ ordered }) + "\n");
      return 0;
    }
    // The archive's own decision (lib/cli/topic_policy.ts), so that the backfill indexes what it would have.
    const policy = await fetchTopicPolicy(options.policy, services.veto, services.log);
    const result = await backfillText({
      index: services.index,
      store: services.store,
      isIndexed: (topic) => policy.decide(topic).indexText,
      ...(options.topics !== undefined ? { topics: options.topics } : {}),
      batch: options.batch,
      concurrency: options.concurrency,
      signal: ctx.shutdown,
      log: services.log,
      progress: (total) => commandProgress(ctx, { label: "index-text", total, quiet: options.quiet }),
    });
    ctx.stdout(
      toJson({
        policy: policy.source,
        topics: result.topics,
        indexed: result.indexed,
        ordered,
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

/**
 * Gives texts indexed before migration 9 the copies of their row that search orders by, a committed batch at a
 * time (a stopped run is resumed by running again); search joins messages, slowly, until none is left.
 */
export async function backfillTextOrder(o: {
  index: Pick<Index, "countUnordered" | "orderText">;
  batch: number;
  signal: AbortSignal;
  progress: (total: number) => Progress;
}): Promise<number> {
  const total = Number(await o.index.countUnordered());
  if (total === 0) return 0;
  const bar = o.progress(total);
  let ordered = 0;
  let after: string | undefined;
  while (!o.signal.aborted) {
    const { filled, last } = await o.index.orderText(o.batch, after);
    ordered += filled;
    bar.tick(filled);
    if (last === undefined) break;
    after = last;
  }
  bar.done({ ordered });
  return ordered;
}

export interface BackfillOptions {
  index: Pick<Index, "topicStats" | "withoutText" | "countWithoutText" | "addText">;
  store: Pick<BlobStore, "get" | "url">;
  /** Topics whose text is to be indexed (--index-text). */
  isIndexed: (topic: string) => boolean;
  /** Narrows to these topics (--topic). */
  topics?: string[];
  /** Rows per page. */
  batch: number;
  /** Objects read at once. */
  concurrency: number;
  signal: AbortSignal;
  log: Logger;
  /** Told the total once known; ticked per row. */
  progress: (total: number) => Progress;
}

export interface BackfillResult {
  topics: string[];
  indexed: number;
  /** Rows whose object is missing or unreadable: left without text (`verify` reports them). */
  failed: number;
  lastId: bigint | null;
  interrupted: boolean;
}

export async function backfillText(o: BackfillOptions): Promise<BackfillResult> {
  const archived = (await o.index.topicStats()).map((s) => s.topic).filter(o.isIndexed);
  const topics = o.topics === undefined ? archived : archived.filter((t) => o.topics!.includes(t));
  const result: BackfillResult = { topics, indexed: 0, failed: 0, lastId: null, interrupted: false };
  if (topics.length === 0) return result;
  const bar = o.progress(Number(await o.index.countWithoutText(topics)));
  const slots = createLimiter(o.concurrency);
  let after: bigint | undefined;
  while (!o.signal.aborted) {
    const rows = await o.index.withoutText(topics, after, o.batch);
    if (rows.length === 0) break;
    const texts: { uuid: string; text: RowText }[] = [];
    await settleAll(rows.map((row) =>
      slots.run(1, async () => {
        if (o.signal.aborted) return;
        try {
          const bytes = await withRetry(() => o.store.get(row.key), {
            what: `GET ${row.key}`,
            signal: o.signal,
            log: o.log,
          });
          if (bytes === null) throw new Error(`the object is missing from ${o.store.url}`);
          const d = decodeArchiveObject(bytes);
          texts.push({ uuid: row.uuid, text: indexableText(d.headers, d.value) });
        } catch (e) {
          if (o.signal.aborted) return;
          result.failed++;
          o.log.warn("cannot index the text of a message; run `housekeeping verify`", {
            uuid: row.uuid,
            key: row.key,
            error: errorMessage(e),
          });
        }
      })
    ));
    result.indexed += await o.index.addText(texts);
    bar.tick(rows.length);
    // Rows left without text (failed or interrupted) are found again by the next run.
    after = rows.at(-1)!.id;
    result.lastId = after;
  }
  result.interrupted = o.signal.aborted;
  bar.done({ indexed: result.indexed, failed: result.failed });
  return result;
}
