// `db index-text`: message_ts for rows archived while their topic's text was not indexed (or by an archiver that
// never indexed), read back from the objects. Pages by id through the rows still without text, so a run that
// stops (or fails) is resumed by running it again; memory holds one page of texts and `concurrency` objects.
import type { Progress } from "../cli/progress.ts";
import { decodeArchiveObject } from "../format/record.ts";
import type { Index, RowText } from "../index/types.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import { createLimiter, settleAll, withRetry } from "../runtime/retry.ts";
import type { BlobStore } from "../store/types.ts";
import { indexableText } from "./extract.ts";

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
