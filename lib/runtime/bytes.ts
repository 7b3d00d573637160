// Byte helpers shared by the rooms that assemble bytes from pieces (Kafka codecs, ingest, serve's request bodies).

/**
 * The pieces joined into one array. One piece is returned as it is, not copied: a caller that needs its own copy
 * (or a plain Uint8Array rather than a Buffer) must not pass a single piece it does not own.
 */
export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
