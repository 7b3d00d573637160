// archive-api's page bookmarks are sqlakeyset's: a direction ('>' the next page, '<' the previous one) and the
// (timestamp, id) of the row to page from, each as "i:<integer>", joined by '~': ">i:1796534782731~i:2". Its
// clients pass them back untouched, so `serve` writes the same text. A bookmark is request input: anything but
// exactly this shape (two integers within int64) is refused, never handed to the database.
import type { Bookmark } from "../index/listing.ts";

const INT64_MAX = 2n ** 63n - 1n;
const SHAPE = /^([<>])i:(-?\d{1,19})~i:(-?\d{1,19})$/;

export function formatBookmark(b: Bookmark): string {
  return `${b.backwards ? "<" : ">"}i:${b.timestamp}~i:${b.id}`;
}

/** The bookmark, or null when `text` is not one this archive (or archive-api) wrote. */
export function parseBookmark(text: string): Bookmark | null {
  const m = SHAPE.exec(text);
  if (m === null) return null;
  const timestamp = BigInt(m[2]!);
  const id = BigInt(m[3]!);
  if (timestamp > INT64_MAX || timestamp < -INT64_MAX - 1n || id > INT64_MAX || id < -INT64_MAX - 1n) {
    return null;
  }
  return { backwards: m[1] === "<", timestamp, id };
}
