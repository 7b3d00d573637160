// The logger's two formats: JSON lines (the default, what tests and collectors parse) and readable lines for a
// terminal, which must show hostile text escaped rather than let it move the cursor or reorder the line.
import * as assert from "node:assert/strict";
import { createLogger, type LogFormat, logFormatOf, textLine } from "../../lib/runtime/log.ts";
import { hkError } from "../../lib/runtime/errors.ts";

const TIME = "2026-12-06T07:08:09.123Z";

function linesOf(format?: LogFormat) {
  const lines: string[] = [];
  const log = createLogger({
    level: "debug",
    sink: (line) => lines.push(line),
    ...(format ? { format } : {}),
  });
  return { lines, log };
}

Deno.test("text lines: time, level, message, then key=value; words bare, the rest quoted", () => {
  const line = textLine({
    time: TIME,
    level: "info",
    msg: "archived a run",
    topic: "gcn.circular",
    records: 12,
    offset: 2n ** 63n - 1n,
    done: true,
    note: "two words",
    empty: "",
    missing: undefined,
    nothing: null,
    where: { partition: 3 },
  });
  assert.equal(
    line,
    `${TIME} INFO  archived a run topic=gcn.circular records=12 offset=9223372036854775807 done=true ` +
      `note="two words" empty="" nothing=null where={"partition":3}`,
  );
});

Deno.test("text lines: levels line up, errors show their message and code", () => {
  assert.ok(textLine({ time: TIME, level: "warn", msg: "m" }).startsWith(`${TIME} WARN  m`));
  assert.ok(textLine({ time: TIME, level: "error", msg: "m" }).startsWith(`${TIME} ERROR m`));
  assert.ok(textLine({ time: TIME, level: "debug", msg: "m" }).startsWith(`${TIME} DEBUG m`));
  const error = hkError("INDEX_UNREACHABLE", "PostgreSQL at 127.0.0.1:1 refused");
  assert.equal(
    textLine({ time: TIME, level: "warn", msg: "retrying", error }),
    `${TIME} WARN  retrying error="PostgreSQL at 127.0.0.1:1 refused [INDEX_UNREACHABLE]"`,
  );
});

Deno.test("text lines: control characters, C1 and bidi overrides from the wire are escaped", () => {
  const hostile = "topic\u001b[2J\r\n\u009b31m\u202eevil";
  const line = textLine({ time: TIME, level: "info", msg: `saw ${hostile}`, topic: hostile });
  assert.equal(
    line,
    `${TIME} INFO  saw topic\\u001b[2J\\u000d\\u000a\\u009b31m\\u202eevil ` +
      `topic="topic\\u001b[2J\\r\\n\\u009b31m\\u202eevil"`,
  );
  assert.doesNotMatch(line, /[\p{Cc}\u202e]/u);
});

Deno.test("the logger writes JSON by default and text when asked, with child fields", () => {
  const json = linesOf();
  json.log.child({ logger: "memory" }).warn("over target", { rssMiB: 300 });
  const entry = JSON.parse(json.lines[0]!);
  assert.equal(entry.level, "warn");
  assert.equal(entry.msg, "over target");
  assert.equal(entry.logger, "memory");
  assert.equal(entry.rssMiB, 300);

  const text = linesOf("text");
  text.log.child({ logger: "memory" }).warn("over target", { rssMiB: 300 });
  assert.match(
    text.lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN {2}over target logger=memory rssMiB=300$/,
  );
});

Deno.test("LOG_FORMAT decides when set; else text on a terminal and JSON otherwise; bad values are refused", () => {
  assert.equal(logFormatOf({}, true), "text");
  assert.equal(logFormatOf({}, false), "json");
  assert.equal(logFormatOf({ LOG_FORMAT: "" }, false), "json");
  assert.equal(logFormatOf({ LOG_FORMAT: "json" }, true), "json");
  assert.equal(logFormatOf({ LOG_FORMAT: "text" }, false), "text");
  assert.throws(() => logFormatOf({ LOG_FORMAT: "yaml" }, true), (e: Error & { code?: string }) => {
    assert.equal(e.code, "CONFIG_INVALID");
    assert.match(e.message, /LOG_FORMAT "yaml": use json or text/);
    return true;
  });
});

Deno.test("both formats mask a password in a URL, the logger's last guard", () => {
  for (const format of ["json", "text"] as const) {
    const { lines, log } = linesOf(format);
    log.error("index unreachable", { url: "postgres://hk:s3cret@db:5432/archive" });
    assert.doesNotMatch(lines[0]!, /s3cret/, format);
    assert.match(lines[0]!, /hk:\*\*\*@db/, format);
  }
});
