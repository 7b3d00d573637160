// Signed-in visitors: the hop token stays in this process's memory, named by a random session id that the browser
// holds in an HttpOnly, SameSite=Strict cookie: never in a page, a URL or a log. Sessions end at sign-out, after
// SESSION_TTL_MS, or when the process stops; the oldest go first when MAX_SESSIONS are open.
import { timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "hk_session";
export const SESSION_TTL_MS = 8 * 3600_000;
export const MAX_SESSIONS = 10_000;

export interface Session {
  id: string;
  /** The Authorization header value that hopauth checks on every request: `Token <token>`. */
  authorization: string;
  /** The form token that sign-out must carry (CSRF). */
  csrf: string;
  expires: number;
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Cookie `name` of a Cookie header, or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

export function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSessions(options: { ttlMs?: number; now?: () => number } = {}) {
  const ttl = options.ttlMs ?? SESSION_TTL_MS;
  const now = options.now ?? Date.now;
  // Insertion order is age order: the first entry is the oldest session.
  const sessions = new Map<string, Session>();

  function open(authorization: string): Session {
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
    const session = { id: randomId(), authorization, csrf: randomId(), expires: now() + ttl };
    sessions.set(session.id, session);
    return session;
  }

  /** The live session a request's cookie names, or null. */
  function of(req: Request): Session | null {
    const id = cookieValue(req.headers.get("cookie"), SESSION_COOKIE);
    if (id === null) return null;
    const session = sessions.get(id);
    if (session === undefined) return null;
    if (session.expires <= now()) {
      sessions.delete(id);
      return null;
    }
    return session;
  }

  function close(id: string): void {
    sessions.delete(id);
  }

  /** Set-Cookie for `session` (null: the cookie removed). Secure when the page was reached over HTTPS. */
  function cookie(session: Session | null, secure: boolean): string {
    const flags = `Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
    return session === null
      ? `${SESSION_COOKIE}=; Max-Age=0; ${flags}`
      : `${SESSION_COOKIE}=${session.id}; Max-Age=${Math.floor(ttl / 1000)}; ${flags}`;
  }

  return {
    open,
    of,
    close,
    cookie,
    get size() {
      return sessions.size;
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
