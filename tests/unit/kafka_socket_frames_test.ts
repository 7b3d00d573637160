// frameReader: Kafka responses read in place, whatever the reads' sizes, and hostile length prefixes refused
// before anything is allocated for them. The end-to-end proof through a real broker is in kafka_test.ts.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { framedSocketFactory, frameReader } from "../../lib/kafka/socket_frames.ts";
import { installKafkajsPatches, kafkajsModules } from "../../lib/kafka/kafkajs_internals.ts";
import { isHkError } from "../../lib/runtime/errors.ts";

function frame(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(4 + size);
  bytes.writeInt32BE(size, 0);
  for (let i = 4; i < bytes.length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** Feeds `stream` to a reader in reads of the sizes `readSizes` cycles through; returns what it emitted. */
function feed(stream: Buffer, readSizes: number[], maxBytes?: number, preallocate?: number) {
  const frames: Buffer[] = [];
  const refusals: Error[] = [];
  const reader = frameReader((f) => frames.push(f), (e) => refusals.push(e), maxBytes, preallocate);
  let at = 0;
  for (let r = 0; at < stream.length && refusals.length === 0; r++) {
    const into = reader.next();
    assert.ok(into.length > 0, "a reader always has room for the next read");
    const n = Math.min(into.length, readSizes[r % readSizes.length]!, stream.length - at);
    stream.copy(into, 0, at, at + n);
    at += n;
    reader.filled(n);
  }
  return { frames, refusals };
}

const SIZES = [0, 1, 3, 100, 16 * 1024 - 4, 16 * 1024 - 3, 16 * 1024, 70_000, 300_000, 5_000];

Deno.test("responses come out whole and byte for byte, however the reads split them", () => {
  const frames = SIZES.map((size, i) => frame(size, i));
  const stream = Buffer.concat(frames);
  for (const reads of [[1], [2, 3], [7], [4096], [65536], [1_000_000], [5, 70_000, 13]]) {
    const out = feed(stream, reads);
    assert.deepEqual(out.refusals, []);
    assert.equal(out.frames.length, frames.length, `reads of ${reads}`);
    out.frames.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i}, reads of ${reads}`));
  }
});

Deno.test("a response larger than the preallocation grows as it arrives and still comes out whole", () => {
  const big = frame(100_000, 9);
  const out = feed(Buffer.concat([big, frame(10, 1)]), [4096], undefined, 20_000);
  assert.equal(out.frames.length, 2);
  assert.ok(out.frames[0]!.equals(big));
});

Deno.test("a large response is read into its own buffer, not copied out of a shared one", () => {
  const big = frame(200_000, 3);
  const reader = frameReader(() => {}, () => {});
  let into = reader.next();
  big.copy(into, 0, 0, 100);
  reader.filled(100);
  into = reader.next();
  // The rest of the response goes straight into the buffer that will be emitted, nothing past its end.
  assert.equal(into.length, big.length - 100);
});

Deno.test("a length prefix that is negative or above the limit is refused before anything is allocated", () => {
  for (const declared of [-1, -(2 ** 31), 2 ** 31 - 1, 1_000_001]) {
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(declared, 0);
    const out = feed(Buffer.concat([prefix, Buffer.alloc(64)]), [68], 1_000_000);
    assert.deepEqual(out.frames, []);
    assert.equal(out.refusals.length, 1, `declared ${declared}`);
    const error = out.refusals[0]!;
    assert.ok(isHkError(error) && error.code === "KAFKA_RESPONSE_TOO_LARGE", String(error));
    assert.match(error.message, new RegExp(`declares ${declared} bytes`));
  }
  // A TLS alert read as a length (a plaintext client on a TLS listener) is one of these.
  const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a]);
  assert.equal(feed(alert, [7]).refusals.length, 1);
});

Deno.test("kafkajs takes a response that arrives whole without joining it to the empty leftover", () => {
  installKafkajsPatches();
  // kafkajs's Connection, only as far as processData needs: what fulfillRequest receives is what we check.
  const Connection = (kafkajsModules as unknown as { Connection: { prototype: object } }).Connection;
  const received: Buffer[] = [];
  const connection = Object.assign(Object.create(Connection.prototype), {
    chunks: [],
    bytesBuffered: 0,
    bytesNeeded: 4,
    authHandlers: null,
    requestQueue: { fulfillRequest: ({ payload }: { payload: Buffer }) => received.push(payload) },
  });
  const first = frame(100, 1);
  const second = frame(200, 2);
  connection.processData(first);
  connection.processData(second);
  assert.equal(received.length, 2);
  // Views of the chunks themselves (after the 4-byte correlation id): nothing was copied.
  assert.equal(received[0]!.buffer, first.buffer);
  assert.equal(received[1]!.buffer, second.buffer);
  assert.equal(received[1]!.byteOffset, second.byteOffset + 8);
});

Deno.test("the framed socket factory's TCP socket hands each response to 'data' whole", async () => {
  const frames = [frame(10, 1), frame(300_000, 2), frame(5, 3)];
  const server = net.createServer((peer) => {
    // Written in uneven pieces, so that reads split responses anywhere.
    const all = Buffer.concat(frames);
    for (let at = 0; at < all.length; at += 12_345) peer.write(all.subarray(at, at + 12_345));
    peer.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const got: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const socket = framedSocketFactory()({ host: "127.0.0.1", port, ssl: false, onConnect: () => {} });
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("end", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
  await new Promise((resolve) => server.close(resolve));
  assert.equal(got.length, frames.length);
  got.forEach((g, i) => assert.ok(g.equals(frames[i]!), `frame ${i}`));
});
