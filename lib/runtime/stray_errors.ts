// A server going away mid-conversation (PostgreSQL restarting) leaves connection errors that nobody waits for, and
// an error nobody handles ends a Deno process. Seen with postgres.js 3.4.9 under Deno's Node compatibility layer:
//   - it drops a socket's listeners when the socket closes, yet the polyfill can still emit a write error ("This
//     socket has been ended by the other party", EPIPE) or a connect error (ECONNREFUSED) on it afterwards;
//   - a query it runs on its own when a connection opens (fetching array types) fails with CONNECTION_CLOSED when
//     the server goes away meanwhile, and nothing awaits that query.
// Such an error has nothing left to fail: every query the program awaits gets its own error through its promise,
// is retried (lib/runtime/retry.ts), and postgres.js reconnects. So these are logged instead of ending the process.
import type { Logger } from "./log.ts";
import { NETWORK_ERROR_CODES, POSTGRES_CONNECTION_CODES } from "./network_errors.ts";

/** A connection-level error: a socket's own (a system call failed, a write after the peer ended) or postgres.js's. */
export function isStrayConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const { code, errno, syscall } = e as { code?: unknown; errno?: unknown; syscall?: unknown };
  if (typeof code !== "string") return false;
  if (NETWORK_ERROR_CODES.has(code)) {
    return typeof syscall === "string" || e.message.includes("ended by the other party");
  }
  return POSTGRES_CONNECTION_CODES.has(code) && errno === code;
}

/** Logs unhandled connection errors instead of dying of them, until the returned function is called. */
export function surviveStrayConnectionErrors(log: Logger): () => void {
  const ignore = (error: unknown, event: Event) => {
    if (!isStrayConnectionError(error)) return;
    event.preventDefault();
    log.warn("ignored a connection error that no operation was waiting for", { error });
  };
  const onError = (event: ErrorEvent) => ignore(event.error, event);
  const onRejection = (event: PromiseRejectionEvent) => ignore(event.reason, event);
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}
