// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of Kafka record batches (magic 2). Neither
// Deno nor node:zlib offers it, and kafkajs computes it one byte per step in JavaScript, which at MiB-sized
// batches costs more than the rest of a restore's per-record work. This is slicing-by-16 (Kadatch and Jenkins):
// sixteen bytes per step, read as four little-endian 32-bit words, through sixteen derived tables. Pure
// TypeScript, so `deno compile` needs nothing native.

const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;

// TABLE[k * 256 + b]: the CRC of byte b followed by k zero bytes. Slice 0 is the classic byte-at-a-time table.
const TABLE = (() => {
  const t = new Int32Array(SLICES * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    for (let k = 1; k < SLICES; k++) {
      const previous = t[(k - 1) * 256 + b]!;
      t[k * 256 + b] = t[previous & 0xff]! ^ (previous >>> 8);
    }
  }
  return t;
})();

// The word loop reads bytes through an Int32Array, i.e. in the platform's byte order; the tables assume little
// endian (every platform Deno ships for is), and a big-endian one falls back to the byte loop.
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function bytewise(crc: number, bytes: Uint8Array, from: number, to: number): number {
  const t = TABLE;
  for (let i = from; i < to; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/**
 * Unsigned CRC-32C of `bytes`. `previous` continues a CRC over earlier bytes: crc32c(b, crc32c(a)) equals the
 * CRC-32C of a followed by b.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous;
  const length = bytes.length;
  // Words need 4-byte alignment within the underlying buffer: the bytes before the first boundary go one by one.
  let i = LITTLE_ENDIAN ? Math.min(length, (4 - (bytes.byteOffset & 3)) & 3) : length;
  crc = bytewise(crc, bytes, 0, i);
  const blocks = (length - i) >>> 4;
  if (blocks > 0) {
    // Signed words: XOR and shifts then stay in 32-bit integers (unsigned loads above 2^31 would be doubles).
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, blocks * 4);
    const t = TABLE;
    const end = words.length;
    for (let w = 0; w < end; w += 4) {
      const a = crc ^ words[w]!;
      const b = words[w + 1]!;
      const c = words[w + 2]!;
      const d = words[w + 3]!;
      crc = t[0xf00 | (a & 0xff)]! ^ t[0xe00 | ((a >>> 8) & 0xff)]! ^ t[0xd00 | ((a >>> 16) & 0xff)]! ^
        t[0xc00 | (a >>> 24)]! ^
        t[0xb00 | (b & 0xff)]! ^ t[0xa00 | ((b >>> 8) & 0xff)]! ^ t[0x900 | ((b >>> 16) & 0xff)]! ^
        t[0x800 | (b >>> 24)]! ^
        t[0x700 | (c & 0xff)]! ^ t[0x600 | ((c >>> 8) & 0xff)]! ^ t[0x500 | ((c >>> 16) & 0xff)]! ^
        t[0x400 | (c >>> 24)]! ^
        t[0x300 | (d & 0xff)]! ^ t[0x200 | ((d >>> 8) & 0xff)]! ^ t[0x100 | ((d >>> 16) & 0xff)]! ^
        t[d >>> 24]!;
    }
    i += blocks * 16;
  }
  crc = bytewise(crc, bytes, i, length);
  return ~crc >>> 0;
}
