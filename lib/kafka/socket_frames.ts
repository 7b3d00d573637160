// kafkajs's connection gathers the socket's chunks until a response is complete and then joins them
// (Buffer.concat in src/network/connection.js, processData): every byte of every fetch response is read into a
// fresh chunk by the socket and copied once more into fresh memory, and the chunks are garbage for the GC. At
// 64 KiB records that copy and its GC were the largest items of the archiver's CPU left (docs/benchmarks.md).
// The socket made here reads with node:net's `onread` instead: each response is read straight into one buffer of
// the size its 4-byte length prefix declares, and handed to kafkajs whole, as one 'data' chunk, which its
// processData then takes as it is (one chunk: no join; the response and the payload are views of it). Responses
// are never split or merged differently from what kafkajs would see: the bytes are the same, only the chunking.
import { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import { hkError } from "../runtime/errors.ts";

/**
 * The largest response accepted. A length prefix is 4 bytes from the wire: a broker (or anything answering in its
 * place) could declare 2 GiB. Kafka's own clients bound what they ask for (fetch.max.bytes, 50 MiB by default;
 * ours asks for 12 MiB, a single batch larger than that coming through whole); metadata of the largest clusters is
 * a few MiB. A response above this is refused: the connection fails with KAFKA_RESPONSE_TOO_LARGE.
 */
export const MAX_RESPONSE_BYTES = 256 * 2 ** 20;
/** A response is given a buffer of its full size up to this; beyond, the buffer grows as the bytes arrive. */
export const PREALLOCATE_BYTES = 32 * 2 ** 20;
// Small responses (heartbeats, commits, metadata) are read several to a read into this, then copied out.
const HEAD_BYTES = 16 * 1024;
const PREFIX = 4;
const KEEP_ALIVE_DELAY = 60_000; // kafkajs's own socket factory's

/** Where a socket's bytes go next, and what to do with them: kafkajs's framing, read ahead of kafkajs. */
export interface FrameReader {
  /** The buffer the next read fills (a view: its length bounds the read). */
  next(): Buffer;
  /** `n` bytes were read into the buffer `next` returned; complete responses go to `emit`, in order. */
  filled(n: number): void;
}

/**
 * Splits a byte stream of Kafka responses (4-byte big-endian length, then that many bytes) into whole responses,
 * each given to `emit` as one Buffer, prefix included. A declared length below 0 or above `maxBytes` calls
 * `refuse` and reads nothing more.
 */
export function frameReader(
  emit: (frame: Buffer) => void,
  refuse: (error: Error) => void,
  maxBytes = MAX_RESPONSE_BYTES,
  preallocateBytes = PREALLOCATE_BYTES,
): FrameReader {
  const head = Buffer.allocUnsafeSlow(HEAD_BYTES);
  let headFill = 0;
  // The response being read into its own buffer: `frame` holds `frameFill` of its `frameSize` bytes.
  let frame: Buffer | null = null;
  let frameFill = 0;
  let frameSize = 0;
  let refused = false;

  const sizeAt = (at: number): number | null => {
    const declared = head.readInt32BE(at);
    if (declared >= 0 && declared <= maxBytes) return PREFIX + declared;
    refused = true;
    refuse(hkError(
      "KAFKA_RESPONSE_TOO_LARGE",
      `the Kafka broker's response declares ${declared} bytes, outside 0..${maxBytes}; the connection is closed ` +
        "(is the broker address a Kafka broker?)",
    ));
    return null;
  };

  // The responses complete in head[0, headFill) go out as copies (head is reused); a response begun there and
  // too large for it moves to a buffer of its own; what is left moves to head's start.
  const splitHead = () => {
    let at = 0;
    while (!refused && headFill - at >= PREFIX) {
      const size = sizeAt(at);
      if (size === null) return;
      if (headFill - at >= size) {
        emit(Buffer.from(head.subarray(at, at + size)));
        at += size;
        continue;
      }
      if (size > HEAD_BYTES) {
        frameSize = size;
        frame = Buffer.allocUnsafe(Math.min(size, preallocateBytes));
        frameFill = head.copy(frame, 0, at, headFill);
        at = headFill;
      }
      break;
    }
    if (at > 0) {
      head.copy(head, 0, at, headFill);
      headFill -= at;
    }
  };

  return {
    next: () => {
      if (frame === null) return head.subarray(headFill);
      if (frameFill === frame.length) {
        // Grown by doubling, never past the declared size: what is allocated stays within twice what arrived.
        const grown = Buffer.allocUnsafe(Math.min(frameSize, frame.length * 2));
        frame.copy(grown, 0, 0, frameFill);
        frame = grown;
      }
      return frame.subarray(frameFill);
    },
    filled: (n) => {
      if (refused) return;
      if (frame === null) {
        headFill += n;
        splitHead();
        return;
      }
      frameFill += n;
      if (frameFill < frameSize) return;
      const whole = frame;
      frame = null;
      emit(whole);
    },
  };
}

/** kafkajs's socket factory argument (its ISocketFactory). */
interface SocketArgs {
  host: string;
  port: number;
  ssl: tls.ConnectionOptions | boolean | null | undefined;
  onConnect: () => void;
}

/**
 * kafkajs's own socket factory (src/network/socketFactory.js: TCP or TLS, SNI for host names, keep-alive) whose
 * sockets emit each Kafka response as one 'data' chunk read in place (frameReader).
 */
export function framedSocketFactory(maxBytes = MAX_RESPONSE_BYTES) {
  return ({ host, port, ssl, onConnect }: SocketArgs): net.Socket => {
    // The reader's callbacks run only once the socket has bytes, long after `socket` below is assigned.
    const readInPlace = () => {
      const reader = frameReader(
        (frame) => socket.emit("data", frame),
        (error) => socket.destroy(error),
        maxBytes,
      );
      return { buffer: () => reader.next(), callback: (n: number) => reader.filled(n) };
    };
    // TLS sockets keep kafkajs's chunks: with Deno's node:tls, `onread` on a TLS socket failed to decrypt the
    // broker's records once in five tries here (2026-12-06), so only plain TCP reads in place.
    const socket: net.Socket = ssl
      ? tls.connect(
        Object.assign({ host, port }, !net.isIP(host) ? { servername: host } : {}, ssl === true ? {} : ssl),
        onConnect,
      )
      : net.connect({ host, port, onread: readInPlace() } as unknown as net.NetConnectOpts, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY);
    return socket;
  };
}
