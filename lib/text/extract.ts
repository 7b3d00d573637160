// The text archive-core (v1.3.0, archive/decision_api.py get_indexable_text) indexes for a message, so that its
// search (websearch_to_tsquery over message_ts) finds our rows as it finds its own: the text headers, then what the
// message's format yields (JSON, Avro, plain text, GCN circular or notice, VOEvent), cut to 16384 characters, with
// control characters made spaces. Pure and total: any bytes give a result, never an exception.
//
// Where archive-core's Python raises (bad JSON under `_format: json`, XML it refuses, ...), it stores nothing at
// all; this archiver archives the message anyway, and indexes what the headers alone give, with
// text_fully_indexed false (as for a message too large to read).
import { mediaTypeOf } from "../index/catalog.ts";
import type { WireHeader } from "../format/types.ts";
import { avroText } from "./avro.ts";
import { circularText, noticeText } from "./gcn.ts";
import { decodeUtf8, loadPythonJson } from "./json.ts";
import { codePointLength, codePointPrefix } from "./python.ts";
import { sniffMediaType } from "./sniff.ts";
import { type Chunks, extractText, newChunks, push, shouldIndex } from "./values.ts";
import { voeventText } from "./voevent.ts";

export interface TextLimits {
  /** Messages of this many bytes or more have only their headers indexed (TEXT_INDEX_MESSAGE_SIZE_LIMIT). */
  messageBytes: number;
  /** Characters of text indexed at most (TEXT_INDEX_SIZE_LIMIT). */
  textChars: number;
}

/** archive-core's defaults. */
export const ARCHIVE_CORE_LIMITS: TextLimits = { messageBytes: 1 << 22, textChars: 1 << 14 };

export interface IndexableText {
  text: string;
  /** message_ts.text_fully_indexed: the message's own content was read (not only its headers). */
  fullyIndexed: boolean;
}

type Extractor = (value: Uint8Array, chunks: Chunks) => boolean;

function jsonText(value: Uint8Array, chunks: Chunks): boolean {
  const tree = loadPythonJson(value);
  if (tree === undefined) return false;
  extractText(tree, chunks);
  return true;
}

function plainText(value: Uint8Array, chunks: Chunks): boolean {
  // extract_indexable_text_plain swallows its own decoding errors: not UTF-8 is simply no text.
  const text = decodeUtf8(value);
  if (text !== null && shouldIndex(text)) push(chunks, text);
  return true;
}

const EXTRACTORS = new Map<string, Extractor>([
  ["application/avro", avroText],
  ["application/json", jsonText],
  ["text/plain", plainText],
  ["application/x.gcn.circular", circularText],
  ["application/x.gcn.notice", noticeText],
  ["application/x.voevent", voeventText],
]);

/** archive-core's get_data_format: the `_format` header's media type, else (or for `blob`) libmagic's guess. */
export function dataFormat(headers: readonly WireHeader[], value: Uint8Array): string {
  const declared = mediaTypeOf(headers);
  return declared !== "application/octet-stream" ? declared : sniffMediaType(value);
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Headers not reserved by hop-client (no leading underscore), and `_sender` as "sender": name, then value.
function headerText(headers: readonly WireHeader[], chunks: Chunks): void {
  for (const { key, value } of headers) {
    if ((key.startsWith("_") && key !== "_sender") || value === null) continue;
    let text: string;
    try {
      text = utf8.decode(value);
    } catch {
      continue; // headers may be binary (`_id`): not text, not indexed
    }
    push(chunks, key.startsWith("_") ? key.slice(1) : key);
    push(chunks, text);
  }
}

/** The text archive-core would index for a message (value null: a Kafka record without a value). */
export function indexableText(
  headers: readonly WireHeader[],
  value: Uint8Array | null,
  limits: TextLimits = ARCHIVE_CORE_LIMITS,
): IndexableText {
  const bytes = value ?? new Uint8Array(0);
  // Text past the limit is cut off: stop collecting once there is surely more (a code point is 1 or 2 units).
  const chunks = newChunks(2 * limits.textChars + 2);
  headerText(headers, chunks);
  let fullyIndexed = false;
  if (bytes.length < limits.messageBytes) {
    const extractor = EXTRACTORS.get(dataFormat(headers, bytes));
    if (extractor !== undefined) {
      const before = { items: chunks.items.length, units: chunks.units };
      fullyIndexed = extractor(bytes, chunks);
      if (!fullyIndexed) {
        chunks.items.length = before.items;
        chunks.units = before.units;
      }
    }
  }
  let text = chunks.items.join(" ");
  if (codePointLength(text) > limits.textChars) text = codePointPrefix(text, limits.textChars);
  // deno-lint-ignore no-control-regex -- exactly the characters archive-core replaces
  return { text: text.replace(/[\x00-\x1f\x7f]/g, " "), fullyIndexed };
}
