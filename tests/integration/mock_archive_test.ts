// The archive against mock-hop's manifest: every case of mock-hop traffic, archived by `archive --until-end`, must
// be in the index and the store exactly as the manifest says (tests/support/manifest_checks.ts).
import assert from "node:assert/strict";
import postgres from "postgres";
import type { CommandContext } from "../../lib/cli/command.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { CASES } from "../../lib/mock/cases.ts";
import { parseManifest } from "../../lib/mock/manifest.ts";
import { defaultTestdataDir } from "../../lib/mock/samples.ts";
import { openStore } from "../../lib/store/open.ts";
import { main } from "../../main.ts";
import { withArchiveScenario, writeMockHopVeto } from "../support/archive_helpers.ts";
import { serviceEnv } from "../support/helpers.ts";
import { assertArchiveMatchesManifest } from "../support/manifest_checks.ts";

function context(out: string[], signal: AbortSignal): CommandContext {
  return {
    env: {
      KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"),
      DATABASE_URL: serviceEnv("DATABASE_URL"),
      HOUSEKEEPING_TESTDATA: defaultTestdataDir(),
    },
    stdout: (t) => out.push(t),
    stdoutBytes: () => Promise.resolve(),
    isTerminal: false,
    stderr: () => {},
    stderrIsTerminal: false,
    shutdown: signal,
    log: silentLogger,
  };
}

async function run(argv: string[], timeoutMs: number): Promise<string> {
  const out: string[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  try {
    const code = await main(argv, context(out, stop.signal));
    assert.ok(!stop.signal.aborted, `${argv[0]} did not finish within ${timeoutMs / 1000} s`);
    assert.equal(code, 0, `${argv[0]} exited ${code}: ${out.join("")}`);
    return out.join("");
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("an archive run over mock-hop traffic matches the manifest exactly", async () => {
  await withArchiveScenario("mockarch", {}, async ({ id, schema, dir, flags, storeUrl }) => {
    const prefix = `${id}.`;
    const sql = postgres(serviceEnv("DATABASE_URL"), { onnotice: () => {}, max: 2 });
    try {
      const veto = `${dir}/veto.yaml`;
      await writeMockHopVeto(veto, prefix);
      const manifestPath = `${dir}/manifest.jsonl`;
      await run([
        "mock-hop",
        "--count",
        "220",
        "--cases",
        "all",
        "--seed",
        "11",
        "--max-value-mib",
        "1.5",
        "--topic-prefix",
        prefix,
        "--manifest",
        manifestPath,
      ], 120_000);
      const manifest = parseManifest(await Deno.readTextFile(manifestPath));
      assert.equal(manifest.length, 220);
      assert.deepEqual(new Set(manifest.map((l) => l.case)), new Set(CASES.map((c) => c.name)));

      await run(["archive", "--until-end", ...flags, "--veto", veto], 180_000);

      await assertArchiveMatchesManifest(manifest, { sql, schema, store: await openStore(storeUrl) });
      // verify --manifest agrees, header names that are not UTF-8 (header-key-binary) compared byte for byte.
      assert.ok(manifest.some((l) => l.case === "header-key-binary" && !l.lossy && !l.vetoed));
      await run(["verify", "--manifest", manifestPath, "--grace", "0", ...flags], 120_000);
      // The poison cases are indexable in full on a UTF-8 database: cleaned, not quarantined.
      const [quarantined] = await sql`select count(*)::int as n from ${
        sql(schema)
      }.messages where quarantined`;
      assert.equal(quarantined?.n, 0, "no row quarantined");
    } finally {
      await sql.end();
    }
  });
});
