// One list of network error codes (lib/runtime/network_errors.ts), read by every translation: a connection that
// could not be made or was lost is retriable, is the index being unreachable, and, left unhandled by postgres.js,
// is logged rather than ending the process. They used to keep three lists that disagreed.
import assert from "node:assert/strict";
import { isRetriable, networkErrorCode } from "../../lib/runtime/errors.ts";
import {
  LOST_CODES,
  NETWORK_ERROR_CODES,
  POSTGRES_CONNECTION_CODES,
  UNREACHABLE_CODES,
} from "../../lib/runtime/network_errors.ts";
import { isStrayConnectionError } from "../../lib/runtime/stray_errors.ts";
import { indexError } from "../../lib/index/database.ts";

/** A system error as Node's net and dns modules raise it. */
function systemError(code: string, syscall = "connect"): Error {
  return Object.assign(new Error(`${syscall} ${code} 127.0.0.1:1`), { code, syscall, errno: -1 });
}

/** A postgres.js connection error (Errors.connection: code and errno are both the name). */
function postgresConnectionError(code: string): Error {
  return Object.assign(new Error(`write ${code} 127.0.0.1:1`), { code, errno: code });
}

Deno.test("network codes: the union of unreachable and lost, including what each translation needed", () => {
  assert.deepEqual(new Set(NETWORK_ERROR_CODES), new Set([...UNREACHABLE_CODES, ...LOST_CODES]));
  // Needed by the retry rule (errors.ts), the stray-error guard (stray_errors.ts) and the index (database.ts).
  for (const code of ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]) {
    assert.ok(UNREACHABLE_CODES.has(code), code);
  }
  for (const code of ["ECONNRESET", "ECONNABORTED", "EPIPE", "ENOTCONN"]) {
    assert.ok(LOST_CODES.has(code), code);
  }
});

Deno.test("network codes: every translation agrees on every code", () => {
  for (const code of NETWORK_ERROR_CODES) {
    const e = systemError(code);
    assert.equal(networkErrorCode(e), code);
    assert.equal(networkErrorCode(new Error("outer", { cause: e })), code);
    assert.equal(isRetriable(e), true, `${code} is retriable`);
    assert.equal(isStrayConnectionError(e), true, `${code} left unhandled is logged, not fatal`);
    const translated = indexError(e, "reading the index");
    assert.equal(translated.code, "INDEX_UNREACHABLE", code);
    assert.equal(translated.retriable, true, code);
  }
});

Deno.test("network codes: postgres.js's lost connections, and its closed pool", () => {
  for (const code of POSTGRES_CONNECTION_CODES) {
    assert.equal(isStrayConnectionError(postgresConnectionError(code)), true, code);
    const translated = indexError(postgresConnectionError(code), "reading the index");
    if (code === "CONNECTION_ENDED") assert.notEqual(translated.code, "INDEX_UNREACHABLE", code);
    else assert.equal(translated.code, "INDEX_UNREACHABLE", code);
  }
});

Deno.test("network codes: anything else is neither retriable nor stray", () => {
  for (const code of ["EACCES", "ENOENT", "EINVAL", "ERR_INVALID_ARG_TYPE"]) {
    const e = systemError(code, "open");
    assert.equal(networkErrorCode(e), undefined, code);
    assert.equal(isRetriable(e), false, code);
    assert.equal(isStrayConnectionError(e), false, code);
  }
});
