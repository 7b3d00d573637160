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

/** archive-core's get_string_header: the first `name` header that decodes as UTF-8, else "". */
export function headerString(headers: readonly WireHeader[], name: string): string {
  for (const h of headers) {
    if (h.key !== name || h.value === null) continue;
    try {
      return utf8.decode(h.value);
    } catch {
      // archive-core skips undecodable values and tries the next header of that name
    }
  }
  return "";
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
    title: headerString(headers, "title"),
    mediaType: mediaTypeOf(headers),
    fileName: headerString(headers, "file_name"),
    originator: headerString(headers, "originator"),
    retracted: false,
  };
}
