// One check of an archive object against the index row that names it, for `verify` (which reports every problem)
// and `restore` (which publishes nothing that fails it): the two must never disagree on the same object. Accepts
// both object layouts.
import { crc32, hex } from "./checksum.ts";
import { errorMessage } from "../runtime/errors.ts";
import { contentDigest } from "./identity.ts";
import type { ExpectedObject } from "./types.ts";
import { parseObjectKey } from "./keys.ts";
import { decodeArchiveObject, type DecodedArchiveObject } from "./record.ts";

export type ObjectProblemKind =
  | "missing"
  | "size_mismatch"
  | "checksum_mismatch"
  | "undecodable"
  | "identity_mismatch"
  | "content_mismatch";

export interface ObjectProblem {
  kind: ObjectProblemKind;
  detail: string;
}

export interface ObjectCheck {
  /** Empty when the object is exactly what the row says. */
  problems: ObjectProblem[];
  /** The record, when the object decodes (even if it has problems). */
  decoded: DecodedArchiveObject | null;
}

/** What the object's own bytes say about its content; shared by the row check and verify's repair. */
export function contentOf(d: DecodedArchiveObject) {
  return {
    sha256: hex(contentDigest(d)),
    valueCrc32: d.value === null ? 0 : crc32(d.value),
    valueSize: d.value?.length ?? 0,
  };
}

/** Disagreements between an object's content and the checksums it carries itself (a corrupt object). */
export function selfProblems(d: DecodedArchiveObject, c: ReturnType<typeof contentOf>): string[] {
  const out: string[] = [];
  if (d.messageCrc32 !== null && d.messageCrc32 !== BigInt(c.valueCrc32)) {
    out.push(`the value's CRC-32 is ${c.valueCrc32} but the object's annotation says ${d.messageCrc32}`);
  }
  if (d.contentSha256 !== null && d.contentSha256 !== c.sha256) {
    out.push(`the content SHA-256 is ${c.sha256} but the object's annotation says ${d.contentSha256}`);
  }
  return out;
}

const differs = (what: string, found: unknown, indexed: unknown) =>
  `the object's ${what} is ${String(found)}, the index says ${String(indexed)}`;

/**
 * Pure: every problem of an object (`bytes`, null when absent) against the index row that names it: presence,
 * size and CRC-32 of the whole object; then, decoded, the record's identity (the UUID in the row's key and in the
 * object, topic, timestamp, partition, offset) and content (value CRC-32 and size, content SHA-256, and the
 * checksums the object carries itself).
 */
export function checkArchiveObject(row: ExpectedObject, bytes: Uint8Array | null): ObjectCheck {
  if (bytes === null) {
    return { problems: [{ kind: "missing", detail: "the object is missing from the store" }], decoded: null };
  }
  const problems: ObjectProblem[] = [];
  if (bytes.length !== row.size) {
    problems.push({
      kind: "size_mismatch",
      detail: `the object has ${bytes.length} bytes, the index says ${row.size}`,
    });
  }
  const objectCrc = crc32(bytes);
  if (objectCrc !== row.crc32) {
    problems.push({ kind: "checksum_mismatch", detail: differs("CRC-32", objectCrc, row.crc32) });
  }
  let d: DecodedArchiveObject;
  try {
    d = decodeArchiveObject(bytes);
  } catch (e) {
    problems.push({ kind: "undecodable", detail: `the object cannot be decoded: ${errorMessage(e)}` });
    return { problems, decoded: null };
  }
  const identity: string[] = [];
  const keyUuid = parseObjectKey(row.key)?.uuid;
  if (keyUuid !== undefined && keyUuid !== row.uuid) {
    identity.push(`the object's key names UUID ${keyUuid}, the index says ${row.uuid}`);
  }
  if (d.uuid !== null && d.uuid !== row.uuid) identity.push(differs("UUID", d.uuid, row.uuid));
  if (d.topic !== row.topic) identity.push(differs("topic", d.topic, row.topic));
  if (d.timestamp !== row.timestamp) identity.push(differs("timestamp", d.timestamp, row.timestamp));
  if (d.partition !== null && row.partition !== null && d.partition !== row.partition) {
    identity.push(differs("partition", d.partition, row.partition));
  }
  if (d.offset !== null && row.offset !== null && d.offset !== row.offset) {
    identity.push(differs("offset", d.offset, row.offset));
  }
  if (identity.length > 0) problems.push({ kind: "identity_mismatch", detail: identity.join("; ") });
  const c = contentOf(d);
  const content = selfProblems(d, c);
  if (row.messageCrc32 !== c.valueCrc32) {
    content.push(differs("value CRC-32", c.valueCrc32, row.messageCrc32));
  }
  if (row.contentSha256 !== null && row.contentSha256 !== c.sha256) {
    content.push(differs("content SHA-256", c.sha256, row.contentSha256));
  }
  if (row.valueSize !== null && row.valueSize !== c.valueSize) {
    content.push(differs("value size", c.valueSize, row.valueSize));
  }
  if (content.length > 0) problems.push({ kind: "content_mismatch", detail: content.join("; ") });
  return { problems, decoded: d };
}

export type Verified = { decoded: DecodedArchiveObject } | { problem: string };

/** checkArchiveObject's verdict for restore: the record to publish, or every problem in one sentence. */
export function verifyObject(row: ExpectedObject, bytes: Uint8Array | null): Verified {
  const { problems, decoded } = checkArchiveObject(row, bytes);
  if (problems.length > 0 || decoded === null) return { problem: problems.map((p) => p.detail).join("; ") };
  return { decoded };
}
