// Issue 23: one full listing page (64 objects of 1 KiB, then 64 KiB) read from MinIO through lib/store/s3.ts's lean
// path, without HTTP: objects opened one by one (the code before) and several at a time, alternating in one run.
// `scripts/deno.sh run -A scripts/bench/full_page.ts` with the services' environment set.
import { connectIndex } from "../../lib/index/database.ts";
import { createListing } from "../../lib/index/listing.ts";
import { fullDocument, OPEN_AHEAD } from "../../lib/serve/listing_bson.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import { fill } from "./serve.ts";
import { closeBench, openBench } from "./services.ts";
import { SIZES } from "./workload.ts";

const b = await openBench();
try {
  for (const size of [1024, 64 * 1024]) {
    const topic = `${b.id}-${size}`;
    const schema = `${b.schema}_full${size}`;
    b.schemas.push(schema);
    await fill(b, topic, schema, 64, SIZES.find((s) => s.bytes === size)!);
    const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
    const listing = createListing(sql);
    const page = await listing.pageWithObjects(
      { topicsPublic: null, topicsFull: [topic], includeRetracted: true },
      { ascending: true, limit: 64 },
    );
    const open = async (row: { key: string }) => (await b.store.getStream(row.key))?.body ?? null;
    const windows = [1, 4, OPEN_AHEAD, 32];
    const times: Record<number, number[]> = Object.fromEntries(windows.map((w) => [w, []]));
    for (let round = 0; round < 40; round++) {
      for (const ahead of windows) {
        const t0 = performance.now();
        const doc = fullDocument(page.rows, null, null, open, () => {
          throw new Error("mismatch");
        }, ahead);
        const n = (await new Response(doc.body).arrayBuffer()).byteLength;
        if (n !== doc.length) throw new Error("short");
        if (round >= 5) times[ahead]!.push(performance.now() - t0);
      }
    }
    const pct = (xs: number[], p: number) => xs.sort((a, c) => a - c)[Math.floor((xs.length - 1) * p / 100)]!;
    for (const ahead of windows) {
      const xs = times[ahead]!;
      console.log(
        `${size} B x64 ahead=${ahead}: p50 ${pct(xs, 50).toFixed(1)} ms p99 ${pct(xs, 99).toFixed(1)} ms`,
      );
    }
    await sql.end({ timeout: 5 });
  }
} finally {
  await closeBench(b);
}
