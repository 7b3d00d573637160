// The catalogue columns of archive-core 1.3.0 (scimma/archive-core archive/decision_api.py get_annotations), which
// archive-api serves and filters on: filled for every row this archiver writes, as archive-core would. (`sender`,
// from `_sender`, is IndexRow.sender: null there is '' in the column, as archive-core writes it.)
import type { WireHeader } from "../format/types.ts";

export interface CatalogColumns {
  /** Served without authentication (--public-topics). */
  public: boolean;
  /** Uploaded through archive-api (here: `serve`) rather than read from Kafka: false for what `archive` writes. */
  directUpload: boolean;
  /** The `title` header. */
  title: string;
  /** IANA media type from hop-client's `_format` header. */
  mediaType: string;
  /** The `file_name` header. */
  fileName: string;
  /** The `originator` header. */
  originator: string;
  retracted: boolean;
}

/** archive-core's defaults: what rows of other writers (the seed-era archiver, `verify --repair`) get. */
export const NO_CATALOG: CatalogColumns = {
  public: false,
  directUpload: false,
  title: "",
  mediaType: "",
  fileName: "",
  originator: "",
  retracted: false,
};

// archive-core's hop_format_to_media_type.
const MEDIA_TYPES = new Map([
  ["voevent", "application/x.voevent"],
  ["gcntextnotice", "application/x.gcn.notice"],
  ["circular", "application/x.gcn.circular"],
  ["blob", "application/octet-stream"],
  ["json", "application/json"],
  ["avro", "application/avro"],
  ["external", "message/x.hop.external+json"],
]);
const LONGEST_FORMAT = 13;
const OCTET_STREAM = "application/octet-stream";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Most UTF-8 bytes a text column derived from a header keeps. PostgreSQL refuses a btree entry above ~2700 bytes
 * (BTMaxItemSize of an 8 KiB page), and `sender` and `format` are btree-indexed: one producer's megabyte `_sender`
 * would otherwise fail its row. 1024 leaves room for a composite index an operator may add (topic: 259 bytes at
 * most), and no sender, format, title, file name or originator anyone reads is longer. One bound for every column.
 */
export const MAX_HEADER_TEXT_BYTES = 1024;

// C0 controls and DEL: NUL is the one byte PostgreSQL's text cannot hold at all, and the others are what
// archive-core's get_indexable_text turns into spaces before indexing text.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;

/**
 * Pure: `text` as an index column can always hold it: lone UTF-16 surrogates become U+FFFD, C0 controls and DEL a
 * space, and the result is cut to MAX_HEADER_TEXT_BYTES of UTF-8 at a character boundary. The stored object keeps
 * the header's bytes exactly; only the index column is cleaned.
 */
export function indexText(text: string): string {
  const clean = text.toWellFormed().replace(CONTROL, " ");
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a string this short needs no counting.
  if (clean.length * 3 <= MAX_HEADER_TEXT_BYTES) return clean;
  const bytes = new TextEncoder().encode(clean);
  if (bytes.length <= MAX_HEADER_TEXT_BYTES) return clean;
  let end = MAX_HEADER_TEXT_BYTES;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
  return utf8.decode(bytes.subarray(0, end));
}

/**
 * THE rule for a text column derived from a header (sender, format, title, file_name, originator): archive-core's
 * get_string_header, i.e. the first `name` header whose value decodes as UTF-8 (null values and undecodable ones
 * are skipped), then cleaned and bounded by indexText. null when there is none.
 */
export function headerText(headers: readonly WireHeader[], name: string): string | null {
  for (const h of headers) {
    if (h.key !== name || h.value === null) continue;
    let text: string;
    try {
      text = utf8.decode(h.value);
    } catch {
      continue; // archive-core skips undecodable values and tries the next header of that name
    }
    return indexText(text);
  }
  return null;
}

/**
 * archive-core's get_data_format, without its libmagic fallback: the LAST `_format` header with a known format
 * (hop-client appends its own after the user's), else application/octet-stream. archive-core asks libmagic
 * whenever that leaves octet-stream; this archiver does not guess from content, so such messages stay
 * application/octet-stream (archive-core too gives that for binary data; for text or JSON sent without a known
 * `_format` it would say text/plain or application/json).
 */
export function mediaTypeOf(headers: readonly WireHeader[]): string {
  let found: string | undefined;
  for (const h of headers) {
    if (h.key !== "_format" || h.value === null || h.value.length > LONGEST_FORMAT) continue;
    const known = MEDIA_TYPES.get(String.fromCharCode(...h.value));
    if (known !== undefined) found = known;
  }
  return found ?? OCTET_STREAM;
}

/** The catalogue columns of a record read from Kafka (or, directUpload, posted to `serve`). */
export function catalogOf(
  headers: readonly WireHeader[],
  isPublic: boolean,
  directUpload = false,
): CatalogColumns {
  return {
    public: isPublic,
    directUpload,
    title: headerText(headers, "title") ?? "",
    mediaType: mediaTypeOf(headers),
    fileName: headerText(headers, "file_name") ?? "",
    originator: headerText(headers, "originator") ?? "",
    retracted: false,
  };
}
