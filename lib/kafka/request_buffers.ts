// Reuses the buffer of a Produce request whose response arrived for the next one.
//
// A request's bytes go to the socket from the buffer they were encoded into, so that buffer must stay untouched
// until they are sent. The broker answers a request only after reading all of it: once that request's response is
// decoded, its buffer is free and becomes the spare the next request is encoded into (a fresh multi-MiB buffer per
// request costs page faults, zeroing and garbage collection). A request that gets no answer (a timeout, a lost
// connection, acks=0) never gives its buffer back.
import { Buffer } from "node:buffer";

const MiB = 2 ** 20;
const SPARE_FROM = 64 * 1024;
const SPARE_UP_TO = 16 * MiB;
let spare: Buffer | null = null;

/** A buffer of at least `bytes` bytes, unzeroed: the spare if it is big enough. */
export function leaseBuffer(bytes: number): Buffer {
  if (bytes < SPARE_FROM) return Buffer.allocUnsafe(bytes);
  if (spare !== null && spare.length >= bytes) {
    const taken = spare;
    spare = null;
    return taken;
  }
  return Buffer.allocUnsafe(Math.ceil(bytes / MiB) * MiB);
}

/** Offers a request's buffer, no longer read by anything, as the next spare. */
export function giveBack(buffer: Buffer): void {
  if (buffer.length < SPARE_FROM || buffer.length > SPARE_UP_TO) return;
  if (spare === null || spare.length < buffer.length) spare = buffer;
}
