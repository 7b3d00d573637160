// The pure decisions of a restore: which name and partition each record goes to, how times and UUID lists are
// read, and whether the target would feed the archiver its own output again.
import { hkError } from "../runtime/errors.ts";
import { isUuidText } from "../format/identity.ts";
import { isArchiveTopic, isTopicName } from "../topics/names.ts";
import type { OrderPosition, SelectFilter } from "../index/types.ts";
import { judgeTopic, type VetoList } from "../topics/veto.ts";

/** Source topic -> target topic: explicit renames first, else the prefix, else the same name. */
export interface TargetNaming {
  renames: ReadonlyMap<string, string>;
  prefix: string | undefined;
}

/**
 * Throws USAGE unless `name` is a topic name Kafka accepts, or with `archive`, one the archive can hold (a Kafka
 * name or the `+oversized` pseudo-topic of one).
 */
export function checkTopicName(name: string, what: string, { archive = false } = {}): void {
  if (!(archive ? isArchiveTopic(name) : isTopicName(name))) {
    throw hkError(
      "USAGE",
      `${what} ${
        JSON.stringify(name)
      } is not a valid Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -${
        archive ? ", or such a name with +oversized" : ""
      })`,
    );
  }
}

/** "FROM=TO" of --rename. */
export function parseRename(text: string): [string, string] {
  const at = text.indexOf("=");
  if (at <= 0 || at === text.length - 1) {
    throw hkError(
      "USAGE",
      `--rename takes FROM=TO (source topic = target topic), got ${JSON.stringify(text)}`,
    );
  }
  const from = text.slice(0, at);
  const to = text.slice(at + 1);
  checkTopicName(from, "--rename source", { archive: true });
  checkTopicName(to, "--rename target");
  return [from, to];
}

/**
 * Source topics whose target name Kafka refuses: the `+oversized` pseudo-topics of messages hop-client offloaded
 * to the archive because they were too large for Kafka. Their topic's stream holds the placeholders, which a
 * restore of that topic re-publishes; the messages themselves go out only under a name given by --rename.
 */
export function unpublishableTopics(sources: Iterable<string>, naming: TargetNaming): string[] {
  return [...new Set(sources)].filter((t) => !isTopicName(targetTopic(naming, t))).sort();
}

export function targetTopic(naming: TargetNaming, source: string): string {
  const renamed = naming.renames.get(source);
  if (renamed !== undefined) return renamed;
  return naming.prefix === undefined ? source : naming.prefix + source;
}

/**
 * The target partition of a record. Its own partition when the target has it; else `source mod count`, so every
 * record of one source partition still lands in one target partition, in order. Records without a partition (the
 * original archiver did not store it) go to partition 0, in timestamp order.
 */
export function targetPartition(
  source: number | null,
  count: number,
): { partition: number; fallback: boolean } {
  if (source === null) return { partition: 0, fallback: true };
  if (source < count) return { partition: source, fallback: false };
  return { partition: source % count, fallback: true };
}

export function parseUuid(text: string, where: string): string {
  const canonical = text.trim().toLowerCase();
  if (!isUuidText(canonical)) {
    throw hkError("USAGE", `${where}: ${JSON.stringify(text)} is not a UUID (8-4-4-4-12 hexadecimal digits)`);
  }
  return canonical;
}

/** A --uuid-file: one UUID per line; blank lines and `#` comments are ignored. */
export function parseUuidFile(text: string, path: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/#.*/, "").trim();
    if (content !== "") out.push(parseUuid(content, `${path}:${i + 1}`));
  });
  return out;
}

function brokerKey(broker: string): string {
  return broker.trim().toLowerCase();
}

/** Two broker lists name the same cluster when they share an address. */
export function sameBrokers(a: readonly string[], b: readonly string[]): boolean {
  const mine = new Set(a.map(brokerKey));
  return b.some((x) => mine.has(brokerKey(x)));
}

/** Target topics that the archiver (same cluster, same veto list) would archive: restoring into them loops. */
export function loopingTargets(targets: readonly string[], veto: VetoList): string[] {
  return targets.filter((t) => judgeTopic(veto, t).archive);
}

export function loopError(topics: readonly string[], brokers: readonly string[]): Error {
  return hkError(
    "RESTORE_LOOP",
    `refusing to restore into ${topics.join(", ")} on ${
      brokers.join(",")
    }: that is the cluster this archive ` +
      "archives, and the archiver archives every topic that is not on the veto list, so every restored record " +
      "would be archived a second time. Restore into another cluster (RESTORE_KAFKA_BROKERS), add the target " +
      "topics to the veto list (--veto), or pass --allow-loop if that is really wanted",
  );
}

/** A restore's identity, for checkpoints: what is selected, where it goes. */
export function selectionKey(
  filter: SelectFilter,
  naming: TargetNaming,
  targetBrokers: readonly string[],
): string {
  const text = (v: bigint | undefined) => (v === undefined ? null : v.toString());
  return JSON.stringify({
    topics: filter.topics ? [...filter.topics].sort() : null,
    topicRegex: filter.topicRegex ?? null,
    since: text(filter.since),
    until: text(filter.until),
    uuids: filter.uuids ? [...new Set(filter.uuids)].sort() : null,
    partition: filter.partition ?? null,
    sender: filter.sender ?? null,
    format: filter.format ?? null,
    fromOffset: text(filter.fromOffset),
    toOffset: text(filter.toOffset),
    renames: [...naming.renames].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    prefix: naming.prefix ?? null,
    target: [...targetBrokers].map(brokerKey).sort(),
  });
}

/** JSON-safe form of a position (bigints as decimal strings), for checkpoints and logs. */
export function positionToJson(p: OrderPosition): Record<string, string | number | boolean> {
  return p.legacy
    ? { legacy: true, topic: p.topic, timestamp: p.timestamp.toString(), id: p.id.toString() }
    : {
      legacy: false,
      topic: p.topic,
      partition: p.partition,
      offset: p.offset.toString(),
      id: p.id.toString(),
    };
}

export function positionFromJson(value: unknown): OrderPosition {
  const v = value as Record<string, unknown>;
  const big = (x: unknown) => {
    if (typeof x !== "string" || !/^-?\d+$/.test(x)) throw new Error(`not an integer string: ${String(x)}`);
    return BigInt(x);
  };
  if (typeof v !== "object" || v === null || typeof v.topic !== "string") throw new Error("no topic");
  if (v.legacy === true) return { legacy: true, topic: v.topic, timestamp: big(v.timestamp), id: big(v.id) };
  if (v.legacy === false && typeof v.partition === "number" && Number.isInteger(v.partition)) {
    return { legacy: false, topic: v.topic, partition: v.partition, offset: big(v.offset), id: big(v.id) };
  }
  throw new Error("neither a legacy nor a Kafka position");
}
