// What serve puts on the wire and reads off it: header values Deno can send, download names, and where an answer
// ends (lib/serve/framing.ts), fed in pieces of every size.
import assert from "node:assert/strict";
import { answerFraming } from "../../lib/serve/framing.ts";
import { contentDisposition, isSafeHeaderValue } from "../../lib/serve/headers.ts";

const enc = new TextEncoder();

Deno.test("header values: controls and characters above U+00FF are unsafe; tab and Latin-1 text are not", () => {
  for (const bad of ["a\x00b", "a\x01", "\x1b[31m", "a\x7f", "a\r\nb: c", "\u0085", "\u202e", "😀"]) {
    assert.equal(isSafeHeaderValue(bad), false, JSON.stringify(bad));
  }
  for (const good of ["", "a\tb", 'attachment; filename="x"', "caf\u00e9"]) {
    assert.equal(isSafeHeaderValue(good), true, JSON.stringify(good));
  }
});

Deno.test("contentDisposition: always sendable; non-ASCII in filename*, an ASCII fallback, at most 255 characters", () => {
  const names = [
    "",
    "a\u0000b",
    "\u202eexe.txt",
    "\ud800",
    "x".repeat(1000),
    'q"uo\\te',
    "日本語.txt",
    "\u2028",
  ];
  for (const name of names) {
    const value = contentDisposition(name);
    assert.ok(isSafeHeaderValue(value), `${JSON.stringify(name)} -> ${value}`);
    assert.ok(value.length < 1000 * 3, "bounded");
  }
  assert.equal(contentDisposition(""), 'attachment; filename="_"');
  assert.equal(
    contentDisposition("日本語.txt"),
    "attachment; filename=\"___.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt",
  );
  assert.equal(contentDisposition("x".repeat(1000)), `attachment; filename="${"x".repeat(255)}"`);
});

function feedInPieces(text: string, size: number, headRequest = false) {
  const bytes = enc.encode(text);
  const framing = answerFraming(headRequest);
  const seen: { started: boolean; complete: boolean; at: number }[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    framing.feed(bytes.subarray(at, at + size));
    seen.push({
      started: framing.started,
      complete: framing.complete,
      at: Math.min(at + size, bytes.length),
    });
  }
  return { framing, seen, length: bytes.length };
}

Deno.test("answerFraming: the end of a Content-Length, chunked, empty or HEAD answer, in pieces of any size", () => {
  const cases: [string, boolean][] = [
    ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10;x=y\r\n0123456789abcdef\r\n0\r\n\r\n",
      false,
    ],
    ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx-trailer: 1\r\n\r\n", false],
    ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno", false],
    ["HTTP/1.1 204 No Content\r\n\r\n", false],
    ["HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n", false],
    ["HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n", true],
    ["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false],
  ];
  for (const [text, head] of cases) {
    for (const size of [1, 2, 3, 7, 64, 10_000]) {
      const { framing, seen, length } = feedInPieces(text, size, head);
      assert.ok(framing.complete, `${JSON.stringify(text)} in pieces of ${size}`);
      // Complete exactly at the last byte, not before.
      assert.deepEqual(seen.filter((s) => s.complete).map((s) => s.at)[0], length, JSON.stringify(text));
    }
  }
  const interim = answerFraming(false);
  interim.feed(enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  assert.equal(interim.started, false, "100 Continue: the body is still wanted");
  const streaming = answerFraming(false);
  streaming.feed(enc.encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel"));
  assert.deepEqual([streaming.started, streaming.complete], [true, false]);
});
