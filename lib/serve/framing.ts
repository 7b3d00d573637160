// Where an HTTP/1.1 answer ends, read off the bytes as they pass (lib/serve/listener.ts closes the connection
// there: Deno keeps it open to read a request body nobody wants, and half-closing its input aborts the answer).
// The answers are Deno's own: a head, then a body framed by Content-Length, chunked, or none.

const CR = 13;
const LF = 10;

function headEnd(buf: Uint8Array): number {
  for (let i = 3; i < buf.length; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

type State =
  | { at: "head"; buf: Uint8Array }
  | { at: "length"; left: number }
  | { at: "size"; line: string }
  | { at: "data"; left: number }
  | { at: "data-end"; left: number }
  | { at: "trailer"; line: string }
  | { at: "until-close" }
  | { at: "done" };

export interface AnswerFraming {
  /** Takes the next bytes of the answer. */
  feed(bytes: Uint8Array): void;
  /** The final (non-1xx) head has been seen: the request's fate is decided. */
  readonly started: boolean;
  /** The final answer's last byte has been seen. */
  readonly complete: boolean;
  /** The final head says `connection: close`, or the body runs until the connection closes. */
  readonly closes: boolean;
}

/** `headRequest`: the request was HEAD, so the answer has no body whatever its head says. */
export function answerFraming(headRequest: boolean): AnswerFraming {
  let state: State = { at: "head", buf: new Uint8Array(0) };
  let started = false;
  let closes = false;

  function afterHead(head: string): State {
    const status = Number(head.slice(9, 12));
    if (status >= 100 && status < 200) return { at: "head", buf: new Uint8Array(0) };
    started = true;
    closes = /\r\nconnection:[^\r]*\bclose\b/i.test(head);
    if (headRequest || status === 204 || status === 304) return { at: "done" };
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return { at: "size", line: "" };
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length) return Number(length[1]) === 0 ? { at: "done" } : { at: "length", left: Number(length[1]) };
    closes = true;
    return { at: "until-close" };
  }

  // Consumes from `bytes` at `i`; returns the next position.
  function step(bytes: Uint8Array, i: number): number {
    const s = state;
    switch (s.at) {
      case "head": {
        const joined = new Uint8Array(s.buf.length + bytes.length - i);
        joined.set(s.buf);
        joined.set(bytes.subarray(i), s.buf.length);
        const end = headEnd(joined);
        if (end < 0) {
          state = { at: "head", buf: joined };
          return bytes.length;
        }
        state = afterHead(new TextDecoder().decode(joined.subarray(0, end)));
        return bytes.length - (joined.length - end);
      }
      case "length":
      case "data":
      case "data-end": {
        const n = Math.min(s.left, bytes.length - i);
        s.left -= n;
        if (s.left === 0) {
          state = s.at === "length" ? { at: "done" } : s.at === "data" ? { at: "data-end", left: 2 } : {
            at: "size",
            line: "",
          };
        }
        return i + n;
      }
      case "size":
      case "trailer": {
        const c = bytes[i]!;
        if (c !== LF) {
          s.line += String.fromCharCode(c);
          return i + 1;
        }
        const line = s.line.replace(/\r$/, "");
        if (s.at === "trailer") {
          state = line === "" ? { at: "done" } : { at: "trailer", line: "" };
        } else {
          const size = parseInt(line.split(";")[0]!, 16);
          state = size > 0 ? { at: "data", left: size } : { at: "trailer", line: "" };
        }
        return i + 1;
      }
      default:
        return bytes.length;
    }
  }

  return {
    feed(bytes) {
      for (let i = 0; i < bytes.length && state.at !== "done";) i = step(bytes, i);
    },
    get started() {
      return started;
    },
    get complete() {
      return state.at === "done";
    },
    get closes() {
      return closes;
    },
  };
}
