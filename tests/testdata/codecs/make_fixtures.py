"""Writes the codec reference vectors in this folder with the reference C implementations.

Run once with a throwaway venv:  python3 -m venv v && v/bin/pip install python-snappy lz4 zstandard
then  v/bin/python tests/testdata/codecs/make_fixtures.py  (from the repository root).
"""

import pathlib
import struct

import lz4.frame
import snappy
import zstandard

HERE = pathlib.Path(__file__).parent


def sample() -> bytes:
    """~90 KiB: compressible text and incompressible bytes, so LZ4 spans several 64 KiB blocks."""
    text = b"".join(
        b'{"topic":"gcn.circular","seq":%d,"body":"GRB %06d observed by Swift/BAT"}\n' % (i, i * 7)
        for i in range(1000)
    )
    state = 12345
    noise = bytearray()
    for _ in range(12000):  # fixed LCG: the same bytes on every run
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        noise.append(state >> 16 & 0xFF)
    return text + bytes(noise) + text[:5000]


def xerial(data: bytes, chunk: int = 32 * 1024) -> bytes:
    """Xerial snappy-java framing as Java Kafka clients write it: 16-byte header, then length-prefixed
    raw snappy chunks."""
    out = bytearray(b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1))
    for i in range(0, len(data), chunk):
        block = snappy.compress(data[i : i + chunk])
        out += struct.pack(">i", len(block)) + block
    return bytes(out)


def legacy_hc(frame: bytes) -> bytes:
    """Rewrites the header checksum as Kafka < 0.10 computed it (over the magic number too, KAFKA-3160)."""
    import xxhash  # only needed here

    flg = frame[4]
    end = 6 + (8 if flg & 0x08 else 0)
    bad = (xxhash.xxh32(frame[:end]).intdigest() >> 8) & 0xFF
    return frame[:end] + bytes([bad]) + frame[end + 1 :]


def main() -> None:
    data = sample()
    librdkafka_lz4 = lz4.frame.compress(
        data, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=False, store_size=False
    )
    vectors = {
        "plain.bin": data,
        "snappy-raw.bin": snappy.compress(data),
        "snappy-xerial.bin": xerial(data),
        "lz4-librdkafka.bin": librdkafka_lz4,
        "lz4-checksums-linked.bin": lz4.frame.compress(
            data,
            block_size=lz4.frame.BLOCKSIZE_MAX256KB,
            block_linked=True,
            block_checksum=True,
            content_checksum=True,
            store_size=True,
        ),
        "lz4-legacy-hc.bin": legacy_hc(librdkafka_lz4),
        "lz4-empty.bin": lz4.frame.compress(b"", store_size=False),
        "zstd-sized.bin": zstandard.ZstdCompressor().compress(data),
    }
    # A streaming compressor cannot know the size up front: the frame carries no content size.
    stream = zstandard.ZstdCompressor().compressobj()
    vectors["zstd-streamed.bin"] = stream.compress(data) + stream.flush()
    for name, blob in vectors.items():
        (HERE / name).write_bytes(blob)
        print(f"{name}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
