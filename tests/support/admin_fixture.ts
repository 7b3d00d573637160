// A filled archive for the admin command tests: real topics, records produced by confluent-kafka, archived by the
// real `archive --until-end` child process into a directory or a MinIO bucket and a PostgreSQL schema of its own.
// The admin commands then run in-process through main(), so their exit codes, stdout and progress are observable.
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { mkdir, rm } from "node:fs/promises";
import type { CommandContext } from "../../lib/cli/command.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { openStore } from "../../lib/store/open.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { main } from "../../main.ts";
import {
  archiveEnv,
  peerProduce,
  type PeerRecord,
  runMain,
  s3Client,
  schemaSql,
  withArchiveScenario,
} from "./archive_helpers.ts";
import { serviceEnv } from "./helpers.ts";

export interface RunResult {
  code: number;
  stdout: string;
  /** What the command wrote through stdoutBytes (inspect --raw). */
  bytes: Uint8Array;
  /** Progress output (the command's stderr side channel). */
  stderr: string;
  /** JSON log lines the command wrote. */
  logs: string[];
}

export interface AdminArchive {
  id: string;
  group: string;
  schema: string;
  topics: string[];
  storeUrl: string;
  /** The fs backend's directory; undefined for S3. */
  dir: string | undefined;
  /** A scratch directory, removed afterwards. */
  tmp: string;
  store: BlobStore;
  /** Connection flags shared by `archive` and every admin command of this archive. */
  flags: string[];
  env: Record<string, string>;
  sql: ReturnType<typeof schemaSql>;
  produce(topic: string, records: PeerRecord[]): Promise<{ partition: number; offset: number }[]>;
  /** Runs `archive --until-end` as a child process; fails the test unless it exits 0. */
  archive(): Promise<void>;
  /** Runs a command in-process with this archive's flags appended. */
  run(argv: string[], options?: { flags?: boolean }): Promise<RunResult>;
  /** Raw store access that bypasses BlobStore's checks: for planting damage. */
  removeObject(key: string): Promise<void>;
  writeObject(key: string, bytes: Uint8Array): Promise<void>;
}

export async function runInProcess(argv: string[], env: Record<string, string>): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const chunks: Uint8Array[] = [];
  const logs: string[] = [];
  const ctx: CommandContext = {
    env,
    stdout: (text) => {
      stdout += text;
    },
    stdoutBytes: (bytes) => {
      chunks.push(bytes.slice());
      return Promise.resolve();
    },
    isTerminal: false,
    stderr: (text) => {
      stderr += text;
    },
    stderrIsTerminal: false,
    shutdown: new AbortController().signal,
    log: createLogger({ level: "debug", sink: (line) => logs.push(line) }),
  };
  const code = await main(argv, ctx);
  const size = chunks.reduce((n, c) => n + c.length, 0);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { code, stdout, bytes, stderr, logs };
}

export async function withArchive(
  prefix: string,
  options: { backend: "fs" | "s3"; topics: string[]; partitions?: number },
  fn: (a: AdminArchive) => Promise<void>,
): Promise<void> {
  await withArchiveScenario(prefix, options, async (s) => {
    const { bucket } = s;
    const dir = options.backend === "fs" ? s.storeDir : undefined;
    const flags = [...s.flags, "--veto", s.veto, "--security-protocol", "PLAINTEXT"];
    const env = archiveEnv();
    const store = await openStore(s.storeUrl, { endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
    const sql = schemaSql(s.schema);
    const s3 = dir === undefined ? s3Client() : undefined;
    const fixture: AdminArchive = {
      id: s.id,
      group: s.group,
      schema: s.schema,
      topics: s.topics,
      storeUrl: s.storeUrl,
      dir,
      tmp: s.dir,
      store,
      flags,
      env,
      sql,
      produce: (topic, records) => peerProduce(topic, records),
      async archive() {
        const result = await runMain(["archive", "--until-end", ...flags], env);
        if (result.code !== 0) throw new Error(`archive exited ${result.code}:\n${result.stderr}`);
      },
      run: (argv, runOptions = {}) =>
        runInProcess(runOptions.flags === false ? argv : [...argv, ...flags], env),
      async removeObject(key) {
        if (dir !== undefined) await rm(join(dir, key));
        else await s3!.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      },
      async writeObject(key, bytes) {
        if (dir !== undefined) {
          await mkdir(dirname(join(dir, key)), { recursive: true });
          await writeFile(join(dir, key), bytes);
        } else await s3!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
      },
    };
    try {
      await fn(fixture);
    } finally {
      store.close();
      s3?.destroy();
      await sql.end();
    }
  });
}

export const enc = new TextEncoder();
export const text = (s: string) => enc.encode(s);

/** hop-client-style headers: `_id` (16 bytes), `_sender`, `_format`. */
export function hopHeaders(id: number, sender = "alice", format = "json"): [string, Uint8Array | null][] {
  return [["_id", new Uint8Array(16).fill(id)], ["_sender", text(sender)], ["_format", text(format)]];
}

/** The canonical uuid text of hopHeaders(id)'s `_id`. */
export function hopUuid(id: number): string {
  const h = id.toString(16).padStart(2, "0").repeat(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export type { PeerRecord };
