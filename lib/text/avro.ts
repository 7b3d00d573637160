// Avro object container files as hop-client's AvroBlob reads them (fastavro.reader, exactly one record) and
// archive-core's extract_indexable_text_avro walks them. avsc parses and checks the writer's schema (names,
// namespaces, references); values are read here, from that schema, because avsc's own reader trusts the counts
// in the data (an array of 2^53 nulls takes no bytes and never ends) and gives maps as plain objects (which
// reorder numeric keys and swallow "__proto__"): every count and length here is checked against the bytes left.
import avro from "avsc";
import { inflateRawSync } from "node:zlib";
import { decodeUtf8, loadPythonJson } from "./json.ts";
import { pyFloatStr } from "./python.ts";
import {
  type Chunks,
  extractText,
  MAX_DEPTH,
  OPAQUE,
  type PyDict,
  pyNumber,
  type PyValue,
} from "./values.ts";

class AvroRefused extends Error {}

// The parts of avsc's Type that the reader uses.
interface AvroType {
  typeName: string;
  underlyingType?: AvroType;
  _logicalTypeName?: string;
  getFields?(): { name: string; type: AvroType }[];
  getSymbols?(): string[];
  getSize?(): number;
  getTypes?(): AvroType[];
  getItemsType?(): AvroType;
  getValuesType?(): AvroType;
}

// A logical type avsc keeps apart from its underlying type, so that the reader sees which one the writer named.
class Marked extends avro.types.LogicalType {
  override _fromValue(value: unknown) {
    return value;
  }
  override _toValue(value: unknown) {
    return value;
  }
}
// fastavro's LOGICAL_READERS: the value becomes a datetime, date, time, Decimal or UUID, which extract_text skips.
const LOGICAL = [
  "timestamp-millis",
  "local-timestamp-millis",
  "timestamp-micros",
  "local-timestamp-micros",
  "date",
  "decimal",
  "uuid",
  "time-millis",
  "time-micros",
];
const LOGICAL_TYPES = Object.fromEntries(LOGICAL.map((name) => [name, Marked]));

// Python's datetime range (years 1..9999) in ms from the epoch; fastavro raises outside it.
const MIN_MS = -62135596800000;
const MAX_MS = 253402300799999;
const MIN_DAY = -719162n;
const MAX_DAY = 2932896n;
const PY_UUID = /^(?:urn:)?(?:uuid:)?\{?[0-9a-f]{32}\}?$/i;

/** Values decoded per message at most: a bound on work for counts that claim more than the bytes could hold. */
const MAX_VALUES = 1 << 22;
/** Inflated bytes per message at most (a deflate bomb). */
const MAX_INFLATED = 1 << 26;

function createReader(bytes: Uint8Array) {
  let at = 0;
  let values = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number) => {
    if (n < 0 || at + n > bytes.length) throw new AvroRefused("truncated");
  };
  const long = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      need(1);
      const b = bytes[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (result >> 1n) ^ -(result & 1n);
    }
    throw new AvroRefused("long too long");
  };
  const small = (): number => {
    const n = long();
    if (n > BigInt(bytes.length) * 8n || n < -BigInt(bytes.length) * 8n) {
      throw new AvroRefused("count too large");
    }
    return Number(n);
  };
  const raw = (): Uint8Array => {
    const n = small();
    need(n);
    at += n;
    return bytes.subarray(at - n, at);
  };
  const string = (): string => {
    const text = decodeUtf8(raw());
    if (text === null) throw new AvroRefused("string is not UTF-8");
    return text;
  };
  // Array and map blocks: a count, negative when followed by the block's size in bytes.
  const blocks = (each: () => void) => {
    for (;;) {
      let n = small();
      if (n === 0) return;
      if (n < 0) {
        n = -n;
        long();
      }
      if ((values += n) > MAX_VALUES) throw new AvroRefused("too many values");
      for (let i = 0; i < n; i++) each();
    }
  };
  return { long, small, raw, string, blocks, need, view, pos: () => at, skip: (n: number) => (at += n) };
}

type Reader = ReturnType<typeof createReader>;

function logical(type: AvroType, r: Reader, depth: number): PyValue {
  const base = type.underlyingType!;
  const value = read(base, r, depth);
  const name = `${base.typeName}-${type._logicalTypeName}`;
  const ms = (scale: bigint) => {
    const n = (value as { pyStr: string }).pyStr;
    const t = BigInt(n) / scale;
    if (t < BigInt(MIN_MS) || t > BigInt(MAX_MS)) throw new AvroRefused(`${name} out of range`);
  };
  switch (name) {
    case "long-timestamp-millis":
    case "long-local-timestamp-millis":
      ms(1n);
      return OPAQUE;
    case "long-timestamp-micros":
    case "long-local-timestamp-micros":
      ms(1000n);
      return OPAQUE;
    case "int-date": {
      const days = BigInt((value as { pyStr: string }).pyStr);
      if (days < MIN_DAY || days > MAX_DAY) throw new AvroRefused(`${name} out of range`);
      return OPAQUE;
    }
    case "int-time-millis":
    case "long-time-micros": {
      const n = BigInt((value as { pyStr: string }).pyStr);
      const day = name === "int-time-millis" ? 86400000n : 86400000000n;
      if (n < 0n || n >= day) throw new AvroRefused(`${name} out of range`);
      return OPAQUE;
    }
    case "bytes-decimal":
    case "fixed-decimal":
      return OPAQUE;
    case "string-uuid":
      if (!PY_UUID.test((value as string).replaceAll("-", ""))) throw new AvroRefused("not a UUID");
      return OPAQUE;
    default:
      return value;
  }
}

function read(type: AvroType, r: Reader, depth: number): PyValue {
  if (depth > MAX_DEPTH) throw new AvroRefused("nested too deeply");
  const name = type.typeName;
  if (name.startsWith("logical:")) return logical(type, r, depth);
  switch (name) {
    case "null":
      return null;
    case "boolean":
      r.need(1);
      r.skip(1);
      return r.view.getUint8(r.pos() - 1) !== 0;
    case "int":
    case "long":
      return pyNumber(r.long().toString());
    case "float":
      r.need(4);
      r.skip(4);
      return pyNumber(pyFloatStr(r.view.getFloat32(r.pos() - 4, true)));
    case "double":
      r.need(8);
      r.skip(8);
      return pyNumber(pyFloatStr(r.view.getFloat64(r.pos() - 8, true)));
    case "bytes":
      r.raw();
      return OPAQUE;
    case "fixed":
      r.need(type.getSize!());
      r.skip(type.getSize!());
      return OPAQUE;
    case "string":
      return r.string();
    case "enum": {
      const symbol = type.getSymbols!()[r.small()];
      if (symbol === undefined) throw new AvroRefused("enum index out of range");
      return symbol;
    }
    case "array": {
      const items: PyValue[] = [];
      r.blocks(() => items.push(read(type.getItemsType!(), r, depth + 1)));
      return items;
    }
    case "map": {
      const map: PyDict = new Map();
      r.blocks(() => {
        const key = r.string();
        map.set(key, read(type.getValuesType!(), r, depth + 1));
      });
      return map;
    }
    case "record":
    case "error": {
      const record: PyDict = new Map();
      for (const field of type.getFields!()) record.set(field.name, read(field.type, r, depth + 1));
      return record;
    }
    default: {
      // union:wrapped or union:unwrapped: the branch index, then its value
      const branch = type.getTypes!()[r.small()];
      if (branch === undefined) throw new AvroRefused("union index out of range");
      return read(branch, r, depth);
    }
  }
}

function header(r: Reader): { schema: AvroType; codec: string; sync: Uint8Array } {
  const meta = new Map<string, Uint8Array>();
  r.blocks(() => {
    const key = r.string();
    meta.set(key, r.raw());
  });
  r.need(16);
  r.skip(16);
  const sync = new Uint8Array(r.view.buffer, r.view.byteOffset + r.pos() - 16, 16);
  const schemaText = meta.get("avro.schema");
  if (schemaText === undefined) throw new AvroRefused("no schema");
  const codec = meta.has("avro.codec") ? new TextDecoder().decode(meta.get("avro.codec")) : "null";
  const text = decodeUtf8(schemaText);
  if (text === null) throw new AvroRefused("schema is not UTF-8");
  return { schema: parsedSchema(text, schemaText), codec, sync };
}

// A topic's messages share a schema or a few: parsing one costs more than reading a message (~150 us). Kept:
// the last 64 schemas of up to 64 KiB (a hostile stream of huge schemas must not fill memory).
const SCHEMAS = new Map<string, AvroType>();
const MAX_SCHEMAS = 64;
const MAX_CACHED_SCHEMA = 1 << 16;

function parsedSchema(text: string, bytes: Uint8Array): AvroType {
  const known = SCHEMAS.get(text);
  if (known !== undefined) return known;
  // fastavro reads the schema with Python's json.loads: what it refuses fails here too.
  if (loadPythonJson(bytes) === undefined) throw new AvroRefused("schema is not JSON");
  let schema: AvroType;
  try {
    schema = avro.Type.forSchema(JSON.parse(text), {
      logicalTypes: LOGICAL_TYPES,
      wrapUnions: true,
    }) as unknown as AvroType;
  } catch {
    throw new AvroRefused("invalid schema");
  }
  if (text.length > MAX_CACHED_SCHEMA) return schema;
  if (SCHEMAS.size >= MAX_SCHEMAS) SCHEMAS.delete(SCHEMAS.keys().next().value!);
  SCHEMAS.set(text, schema);
  return schema;
}

/** fastavro.reader over the container: every record of every block (sync markers checked). */
export function readContainer(bytes: Uint8Array): PyValue[] | null {
  try {
    if (bytes.length < 4 || String.fromCharCode(...bytes.subarray(0, 4)) !== "Obj\x01") return null;
    const r = createReader(bytes.subarray(4));
    const { schema, codec, sync } = header(r);
    if (codec !== "null" && codec !== "deflate") return null;
    const records: PyValue[] = [];
    const body = bytes.subarray(4);
    while (r.pos() < body.length) {
      const count = r.small();
      const data = r.raw();
      const block = codec === "null" ? data : inflateRawSync(data, { maxOutputLength: MAX_INFLATED });
      const br = createReader(new Uint8Array(block.buffer, block.byteOffset, block.byteLength));
      if (count > MAX_VALUES - records.length) return null;
      for (let i = 0; i < count; i++) records.push(read(schema, br, 0));
      r.need(16);
      const marker = body.subarray(r.pos(), r.pos() + 16);
      r.skip(16);
      if (!marker.every((b, i) => b === sync[i])) return null;
    }
    return records;
  } catch {
    // Truncated or inconsistent data, a bad schema, a deflate error or bomb: fastavro raises too.
    return null;
  }
}

/** extract_indexable_text_avro: AvroBlob.deserialize wants exactly one record. */
export function avroText(value: Uint8Array, chunks: Chunks): boolean {
  const records = readContainer(value);
  if (records === null || records.length !== 1) return false;
  extractText(records[0]!, chunks);
  return true;
}
