// The archive command as the benchmark runs it: a child with its own /metrics port, done once its counter reached
// the records it was given; and restore, done once the target topic holds them.
import { archiveEnv, vetoAllBut } from "../../tests/support/archive_helpers.ts";
import { type ChildRun, runChild } from "./child.ts";
import type { Bench } from "./services.ts";

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

export async function archivedCount(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^housekeeping_records_archived_total\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

export async function runArchive(
  b: Bench,
  topic: string,
  schema: string,
  count: number,
  timeoutSeconds: number,
  env: Record<string, string> = {},
): Promise<ChildRun> {
  const group = `${topic}-archive-${schema}`;
  b.groups.push(group);
  const port = freePort();
  const args = ["archive", "--until-end", "--group", group, "--bucket", b.bucket, "--db-schema", schema];
  return await runChild(
    [...args, "--http-port", String(port)],
    archiveEnv({ VETO_FILE: vetoAllBut(topic), LOG_LEVEL: "info", ...env }),
    {
      startMarker: /Consumer has joined the group/,
      done: async () => (await archivedCount(port)) >= count,
      timeoutSeconds,
    },
  );
}

/** `main.ts restore` of `source` (as archived in `schema`) into `target`, done once `count` records landed. */
export async function runRestore(
  b: Bench,
  schema: string,
  source: string,
  target: string,
  count: number,
  timeoutSeconds: number,
): Promise<ChildRun> {
  const admin = b.kafka.admin();
  await admin.connect();
  try {
    const args = ["restore", "--topic", source, "--rename", `${source}=${target}`, "--progress", "none"];
    // BENCH_RESTORE_ARGS: extra restore options to compare settings (e.g. "--max-inflight-mib 32").
    args.push(...(Deno.env.get("BENCH_RESTORE_ARGS") ?? "").split(" ").filter((a) => a !== ""));
    return await runChild(
      [...args, "--bucket", b.bucket, "--db-schema", schema],
      // The target is on the veto list (it does not start with the source prefix): no archive loop.
      archiveEnv({ VETO_FILE: vetoAllBut(`${b.id}-src-`), LOG_LEVEL: "info" }),
      {
        startMarker: /"msg":"restoring"/,
        done: async () => {
          const offsets = await admin.fetchTopicOffsets(target);
          return offsets.reduce((n, p) => n + Number(p.high), 0) >= count;
        },
        timeoutSeconds,
      },
    );
  } finally {
    await admin.disconnect();
  }
}
