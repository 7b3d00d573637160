// `verify --manifest`: does the archive hold exactly what mock-hop says it sent? The manifest (lib/mock/manifest.ts)
// has one line per record sent. Records sharing a UUID form a group: the first of them sent and every copy of it.
// The archive must hold one row for the group, at the coordinates of one of its records (normally the first: only
// when copies travel on different partitions can the archiver meet a copy first), and a receipt for every other
// record of the group; the stored object must carry the content the manifest describes.
import { sha256Hex } from "../format/checksum.ts";
import { hkError } from "../runtime/errors.ts";
import { isUuidText } from "../format/identity.ts";
import type { Index, Receipt, StoredRow } from "../index/types.ts";
import { headersSha256, type ManifestLine } from "../mock/manifest.ts";
import type { Progress } from "../cli/progress.ts";
import { decodeArchiveObject } from "../format/record.ts";
import type { BlobStore } from "../store/types.ts";
import type { Problem } from "./check.ts";

export type ManifestProblemKind =
  | "manifest_missing"
  | "manifest_coordinates"
  | "manifest_receipt_missing"
  | "manifest_identity"
  | "manifest_content"
  | "manifest_vetoed_archived"
  | "manifest_unexpected";

export interface ManifestDeps {
  store: Pick<BlobStore, "get">;
  index: Pick<Index, "lookup" | "receipts" | "select">;
}

export interface ManifestSummary {
  lines: number;
  /** Distinct messages (UUIDs) the archive must hold. */
  messages: number;
  /** Records the archive must hold as receipts. */
  receipts: number;
  vetoed: number;
  problems: number;
}

const BATCH = 1000;

/** Throws MANIFEST_INVALID unless every line has the fields the check relies on. */
export function validateManifest(lines: ManifestLine[], source: string): void {
  lines.forEach((l, i) => {
    const where = `${source}: line ${i + 1}`;
    const fail = (what: string) =>
      hkError(
        "MANIFEST_INVALID",
        `${where}: ${what}; is this a manifest written by \`housekeeping mock-hop\`?`,
      );
    if (typeof l.topic !== "string" || l.topic === "") throw fail("no topic");
    if (!Number.isInteger(l.partition)) throw fail("no integer partition");
    if (typeof l.offset !== "string" || !/^\d+$/.test(l.offset)) throw fail("offset is not a decimal string");
    if (typeof l.timestamp !== "string" || !/^-?\d+$/.test(l.timestamp)) {
      throw fail("timestamp is not a decimal string");
    }
    if (typeof l.uuid !== "string" || !isUuidText(l.uuid)) throw fail("uuid is not a lowercase UUID");
    if (!["client", "archive", "clash"].includes(l.uuid_source)) {
      throw fail("uuid_source is not client|archive|clash");
    }
  });
}

const coordinates = (c: { topic: string; partition: number | null; offset: bigint | string | null }) =>
  `${c.topic}/${c.partition}/${c.offset}`;

/** Pure: the problems of one group of manifest lines (one UUID) given its row and its receipts. */
export function checkGroup(
  uuid: string,
  group: ManifestLine[],
  row: StoredRow | undefined,
  receipts: Receipt[],
): Problem[] {
  const first = group[0]!;
  const base = { uuid, topic: first.topic };
  if (row === undefined) {
    return [{
      ...base,
      key: null,
      kind: "manifest_missing",
      detail: `no index row; sent as ${group.map(coordinates).join(", ")}`,
    }];
  }
  const problems: Problem[] = [];
  const report = (kind: ManifestProblemKind, detail: string) =>
    problems.push({ ...base, key: row.key, topic: row.topic, kind, detail });
  const members = new Map(group.map((l) => [coordinates(l), l]));
  const stored = members.get(coordinates(row));
  if (stored === undefined) {
    report(
      "manifest_coordinates",
      `archived from ${coordinates(row)}, sent as ${[...members.keys()].join(", ")}`,
    );
  } else if (row.timestamp !== BigInt(stored.timestamp)) {
    report("manifest_coordinates", `archived with timestamp ${row.timestamp}, sent with ${stored.timestamp}`);
  }
  const receipted = new Set(receipts.map(coordinates));
  for (const key of members.keys()) {
    if (key !== coordinates(row) && !receipted.has(key)) {
      report("manifest_receipt_missing", `no receipt for the copy sent as ${key}`);
    }
  }
  const line = stored ?? first;
  const identity: string[] = [];
  if (row.isClientUuid !== (line.uuid_source === "client")) {
    identity.push(`is_client_uuid is ${row.isClientUuid}, but the uuid source is ${line.uuid_source}`);
  }
  if (line.uuid_source === "clash" && row.clashOf !== line.clash_of) {
    identity.push(`clash_of is ${row.clashOf}, expected ${line.clash_of}`);
  }
  if (identity.length > 0) report("manifest_identity", identity.join("; "));
  if (row.contentSha256 !== null && row.contentSha256 !== line.content_sha256) {
    report("manifest_content", `content digest is ${row.contentSha256}, sent ${line.content_sha256}`);
  }
  return problems;
}

/** Pure: the stored object's bytes against what was sent (value, key and, unless lossy, headers). */
export function checkStoredContent(row: StoredRow, line: ManifestLine, bytes: Uint8Array | null): Problem[] {
  const base = { key: row.key, uuid: row.uuid, topic: row.topic };
  if (bytes === null) {
    return [{ ...base, kind: "manifest_missing", detail: "the object is missing from the store" }];
  }
  let d;
  try {
    d = decodeArchiveObject(bytes);
  } catch (e) {
    return [{ ...base, kind: "manifest_content", detail: (e as Error).message }];
  }
  const wrong: string[] = [];
  const hash = (b: Uint8Array | null) => (b === null ? null : sha256Hex(b));
  if (hash(d.value) !== line.value_sha256) {
    wrong.push(`value sha256 ${hash(d.value)}, sent ${line.value_sha256}`);
  }
  if (hash(d.key) !== line.key_sha256) wrong.push(`key sha256 ${hash(d.key)}, sent ${line.key_sha256}`);
  // Manifests of mock-hop before con_header_keys mark records with a non-UTF-8 header key lossy: archives of that
  // time kept such a key as text only.
  if (!line.lossy && headersSha256(d.headers) !== line.headers_sha256) {
    wrong.push("headers differ from those sent");
  }
  return wrong.length === 0 ? [] : [{ ...base, kind: "manifest_content", detail: wrong.join("; ") }];
}

export async function checkManifest(
  deps: ManifestDeps,
  lines: ManifestLine[],
  report: (p: Problem) => void,
  progress: Progress,
): Promise<ManifestSummary> {
  const summary: ManifestSummary = { lines: lines.length, messages: 0, receipts: 0, vetoed: 0, problems: 0 };
  const emit = (p: Problem) => {
    summary.problems++;
    report(p);
  };
  const { groups, vetoed } = groupLines(lines);
  summary.messages = groups.size;
  summary.vetoed = vetoed.length;
  summary.receipts = await checkGroups(deps, groups, emit, progress);
  await checkVetoed(deps, vetoed, emit, progress);
  await checkUnexpected(deps, lines, groups, emit);
  progress.done({ messages: summary.messages, problems: summary.problems });
  return summary;
}

/** The lines of archived topics grouped by UUID, in the order sent, and apart from them the vetoed lines. */
function groupLines(lines: ManifestLine[]): { groups: Map<string, ManifestLine[]>; vetoed: ManifestLine[] } {
  const vetoed = lines.filter((l) => l.vetoed);
  const groups = new Map<string, ManifestLine[]>();
  for (const l of lines) {
    if (l.vetoed) continue;
    const group = groups.get(l.uuid);
    if (group) group.push(l);
    else groups.set(l.uuid, [l]);
  }
  return { groups, vetoed };
}

/** Checks every group's row, receipts and stored object, a batch of UUIDs at a time; returns the receipts expected. */
async function checkGroups(
  deps: ManifestDeps,
  groups: Map<string, ManifestLine[]>,
  emit: (p: Problem) => void,
  progress: Progress,
): Promise<number> {
  let expectedReceipts = 0;
  const uuids = [...groups.keys()];
  for (let i = 0; i < uuids.length; i += BATCH) {
    const part = uuids.slice(i, i + BATCH);
    const rows = await deps.index.lookup(part);
    const receipts = new Map<string, Receipt[]>();
    for (const r of await deps.index.receipts(part)) {
      const list = receipts.get(r.uuid);
      if (list) list.push(r);
      else receipts.set(r.uuid, [r]);
    }
    for (const uuid of part) {
      const group = groups.get(uuid)!;
      const row = rows.get(uuid);
      expectedReceipts += new Set(group.map(coordinates)).size - 1;
      checkGroup(uuid, group, row, receipts.get(uuid) ?? []).forEach(emit);
      if (row !== undefined) {
        const line = group.find((l) => coordinates(l) === coordinates(row)) ?? group[0]!;
        checkStoredContent(row, line, await deps.store.get(row.key)).forEach(emit);
      }
      progress.tick(group.length);
    }
  }
  return expectedReceipts;
}

/** Vetoed records (heartbeats) must not be archived at all. */
async function checkVetoed(
  deps: ManifestDeps,
  vetoed: ManifestLine[],
  emit: (p: Problem) => void,
  progress: Progress,
): Promise<void> {
  for (let i = 0; i < vetoed.length; i += BATCH) {
    const part = vetoed.slice(i, i + BATCH);
    const rows = await deps.index.lookup(part.map((l) => l.uuid));
    for (const l of part) {
      const row = rows.get(l.uuid);
      if (row !== undefined && coordinates(row) === coordinates(l)) {
        emit({
          key: row.key,
          uuid: l.uuid,
          topic: l.topic,
          kind: "manifest_vetoed_archived",
          detail: `a record of vetoed topic ${l.topic} was archived; check the veto list`,
        });
      }
      progress.tick(1);
    }
  }
}

/** Rows in the manifest's topics that no line accounts for (e.g. a record archived under a wrong UUID). */
async function checkUnexpected(
  deps: ManifestDeps,
  lines: ManifestLine[],
  groups: Map<string, ManifestLine[]>,
  emit: (p: Problem) => void,
): Promise<void> {
  const topics = [...new Set(lines.filter((l) => !l.vetoed).map((l) => l.topic))];
  let after: bigint | undefined;
  while (topics.length > 0) {
    const rows = await deps.index.select({ topics }, {
      limit: BATCH,
      ...(after !== undefined ? { after } : {}),
    });
    if (rows.length === 0) break;
    for (const row of rows) {
      if (!groups.has(row.uuid)) {
        emit({
          key: row.key,
          uuid: row.uuid,
          topic: row.topic,
          kind: "manifest_unexpected",
          detail: `archived from ${coordinates(row)}, which the manifest does not list under this uuid`,
        });
      }
    }
    after = rows[rows.length - 1]!.id;
  }
}
