// Which archived messages a command works on (`query`, `export`, `verify`): one set of flags, one parser, one
// help text, turned into the index's SelectFilter. Times are record timestamps, like the object keys.
import type { OptionSpec, ParsedArgs } from "./config.ts";
import { usageError } from "./flags.ts";
import { formatTime } from "./output.ts";
import { isUuidText } from "../format/identity.ts";
import type { SelectFilter } from "../index/types.ts";

export const SELECTION_OPTIONS: Record<string, OptionSpec> = {
  topic: { type: "string", multiple: true },
  since: { type: "string" },
  until: { type: "string" },
  uuid: { type: "string", multiple: true },
  sender: { type: "string" },
  format: { type: "string" },
  partition: { type: "string" },
};

export const SELECTION_HELP = `Selection (all given conditions must hold):
  --topic NAME         only this topic (repeatable)
  --since TIME         record timestamp >= TIME
  --until TIME         record timestamp < TIME
  --uuid UUID          only this message (repeatable)
  --sender NAME        hop-client _sender header (the producing user)
  --format NAME        hop-client _format header (voevent, circular, json, avro, blob, ...)
  --partition N        only this Kafka partition
  TIME is an ISO 8601 date or time (UTC unless it has an offset: 2024-01-17, 2024-01-17T12:00:00+02:00),
  milliseconds since the epoch (1705449600000), or an age: 90s, 30m, 24h, 7d, 2w ago.`;

const AGE = /^(\d+)(s|m|h|d|w)$/;
const AGE_MS: Record<string, bigint> = {
  s: 1000n,
  m: 60_000n,
  h: 3_600_000n,
  d: 86_400_000n,
  w: 604_800_000n,
};
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** Pure: a TIME argument -> ms since the epoch; `now` anchors ages. */
export function parseTimeArg(command: string, flag: string, text: string, now: bigint): bigint {
  const age = AGE.exec(text);
  if (age) return now - BigInt(age[1]!) * AGE_MS[age[2]!]!;
  if (/^-?\d+$/.test(text)) return BigInt(text);
  let iso: string | undefined;
  if (DATE_ONLY.test(text)) iso = `${text}T00:00:00Z`;
  else if (DATE_TIME.test(text)) {
    const t = text.replace(" ", "T");
    iso = /(Z|[+-]\d{2}:?\d{2})$/i.test(t) ? t : `${t}Z`;
  }
  const ms = iso === undefined ? NaN : Date.parse(iso);
  if (Number.isNaN(ms)) {
    throw usageError(
      command,
      `--${flag} ${
        JSON.stringify(text)
      } is not a time: use 2024-01-17, 2024-01-17T12:00:00Z, ms since the epoch, or an age like 24h`,
    );
  }
  return BigInt(ms);
}

function strings(value: ParsedArgs["values"][string]): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Pure: the selection flags of `values` -> an index filter. `now` (ms) anchors ages such as `--since 24h`. */
export function parseSelection(command: string, values: ParsedArgs["values"], now: bigint): SelectFilter {
  const filter: SelectFilter = {};
  const topics = strings(values.topic);
  if (topics !== undefined) filter.topics = topics;
  const uuids = strings(values.uuid)?.map((u) => u.toLowerCase());
  if (uuids !== undefined) {
    const bad = uuids.find((u) => !isUuidText(u));
    if (bad !== undefined) {
      throw usageError(command, `--uuid ${JSON.stringify(bad)} is not a UUID (8-4-4-4-12 hex)`);
    }
    filter.uuids = uuids;
  }
  if (typeof values.since === "string") filter.since = parseTimeArg(command, "since", values.since, now);
  if (typeof values.until === "string") filter.until = parseTimeArg(command, "until", values.until, now);
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw usageError(command, `--since must be before --until (the range is empty)`);
  }
  if (typeof values.sender === "string") filter.sender = values.sender;
  if (typeof values.format === "string") filter.format = values.format;
  if (typeof values.partition === "string") {
    if (!/^\d+$/.test(values.partition) || Number(values.partition) > 0x7fffffff) {
      throw usageError(
        command,
        `--partition must be a partition number, got ${JSON.stringify(values.partition)}`,
      );
    }
    filter.partition = Number(values.partition);
  }
  return filter;
}

/** The filter as shown in reports and --print-config: bigint times as ISO text. */
export function describeSelection(filter: SelectFilter): Record<string, unknown> {
  const time = (ms: bigint | undefined) => ms === undefined ? undefined : formatTime(ms);
  return Object.fromEntries(
    Object.entries({ ...filter, since: time(filter.since), until: time(filter.until) })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]),
  );
}
