// The restore checkpoint: the position (in restore order) up to which every selected record was acknowledged by
// the target cluster or deliberately skipped. Records are sent strictly in that order, one produce request at a
// time, so a single position says everything; a resumed restore selects only the rows after it. It also keeps the
// target partitions' end offsets as of that position, so that a resumed restore recognises what a killed run had
// sent beyond it (see landed.ts).
import { dirname, join } from "node:path";
import { errorMessage, hkError } from "../runtime/errors.ts";
import type { OrderPosition } from "../index/types.ts";
import type { TargetEnds } from "./landed.ts";
import { positionFromJson, positionToJson } from "./plan.ts";

export interface Checkpoint {
  /** selectionKey() of the restore that wrote it: a checkpoint only resumes the same restore. */
  selection: string;
  /** Last row acknowledged or skipped; null before the first. */
  position: OrderPosition | null;
  /** Totals over all runs of this restore. */
  sent: number;
  skipped: number;
  bytes: number;
  complete: boolean;
  /** End offset of every target partition right after the last acknowledged request; absent in version 1. */
  targetEnds?: TargetEnds;
}

// Version 1 had no targetEnds; it is still read (a restore resumed from it cannot recognise what was sent after it).
const VERSION = 2;
const READABLE = [1, 2];

const OFFSET = /^(0|[1-9][0-9]{0,18})$/;

function readEnds(value: unknown): TargetEnds | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const ends: TargetEnds = {};
  for (const [topic, partitions] of Object.entries(value)) {
    if (typeof partitions !== "object" || partitions === null || Array.isArray(partitions)) {
      return `topic ${topic} is not an object`;
    }
    const out: Record<string, string> = {};
    for (const [partition, offset] of Object.entries(partitions)) {
      if (!OFFSET.test(partition) || typeof offset !== "string" || !OFFSET.test(offset)) {
        return `bad offset for ${topic} partition ${partition}`;
      }
      out[partition] = offset;
    }
    ends[topic] = out;
  }
  return ends;
}

function corrupt(path: string, problem: string): Error {
  return hkError(
    "RESTORE_CHECKPOINT_INVALID",
    `checkpoint ${path} is not a restore checkpoint (${problem}); pass another --checkpoint file, or delete this ` +
      "one to start the restore from the beginning",
  );
}

/** The checkpoint in `path`, or null when there is none yet. */
export async function readCheckpoint(path: string): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw hkError("RESTORE_CHECKPOINT_INVALID", `cannot read checkpoint ${path}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not JSON: ${errorMessage(e)}`);
  }
  if (!READABLE.includes(doc?.version as number)) {
    throw corrupt(path, `version ${JSON.stringify(doc?.version)}, expected one of ${READABLE.join(", ")}`);
  }
  const count = (name: string) => {
    const n = doc[name];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw corrupt(path, `bad "${name}"`);
    return n;
  };
  if (typeof doc.selection !== "string") throw corrupt(path, `bad "selection"`);
  let position: OrderPosition | null = null;
  if (doc.position !== null) {
    try {
      position = positionFromJson(doc.position);
    } catch (e) {
      throw corrupt(path, `bad "position": ${errorMessage(e)}`);
    }
  }
  let targetEnds: TargetEnds | undefined;
  if (doc.targetEnds !== undefined) {
    const ends = readEnds(doc.targetEnds);
    if (typeof ends === "string") throw corrupt(path, `bad "targetEnds": ${ends}`);
    targetEnds = ends;
  }
  return {
    selection: doc.selection,
    position,
    sent: count("sent"),
    skipped: count("skipped"),
    bytes: count("bytes"),
    complete: doc.complete === true,
    ...(targetEnds === undefined ? {} : { targetEnds }),
  };
}

/** Replaces the checkpoint atomically: a crash leaves the old one or the new one, never a torn file. */
export async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  const body = JSON.stringify(
    {
      version: VERSION,
      selection: checkpoint.selection,
      position: checkpoint.position === null ? null : positionToJson(checkpoint.position),
      sent: checkpoint.sent,
      skipped: checkpoint.skipped,
      bytes: checkpoint.bytes,
      complete: checkpoint.complete,
      ...(checkpoint.targetEnds === undefined ? {} : { targetEnds: checkpoint.targetEnds }),
      updatedAt: new Date().toISOString(),
    },
    null,
    2,
  ) + "\n";
  const temp = join(dirname(path), `.${crypto.randomUUID()}.checkpoint.tmp`);
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
    try {
      const bytes = new TextEncoder().encode(body);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw hkError(
      "RESTORE_CHECKPOINT_FAILED",
      `cannot write checkpoint ${path}: ${errorMessage(e)}; check that its directory exists and is writable`,
      { cause: e },
    );
  }
}

/** Throws RESTORE_CHECKPOINT_MISMATCH unless `checkpoint` belongs to the restore identified by `selection`. */
export function checkResumable(path: string, checkpoint: Checkpoint, selection: string): void {
  if (checkpoint.selection === selection) return;
  const before = JSON.parse(checkpoint.selection) as Record<string, unknown>;
  const now = JSON.parse(selection) as Record<string, unknown>;
  const differs = Object.keys({ ...before, ...now })
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]));
  throw hkError(
    "RESTORE_CHECKPOINT_MISMATCH",
    `checkpoint ${path} belongs to a different restore (it differs in: ${differs.join(", ")}); repeat the ` +
      "original selection, renames and target to resume it, or pass a new --checkpoint file",
  );
}
