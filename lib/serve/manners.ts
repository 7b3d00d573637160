// What archive-api's framework (FastAPI on Starlette, with its CORSMiddleware) does around every route, done the
// same way here: CORS for the configured origins (`cors_origins`, `cors_origin_regex`; credentials allowed, any
// method and header), 404 and 405 (with Allow) as JSON {"detail": ...}. One deliberate difference: HEAD is
// answered for every GET route (archive-api answers 405), as HTTP asks.
import { hkError } from "../runtime/errors.ts";

export interface CorsPolicy {
  origins: string[];
  /** Python `re.fullmatch` pattern in archive-api; a JavaScript RegExp anchored at both ends here. */
  regex: RegExp | null;
}

/** Starlette's ALL_METHODS, as its preflight answer lists them. */
const ALL_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY";
const PREFLIGHT_VARY =
  "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network";

export function corsPolicy(origins: string[], regex: string | undefined, setting: string): CorsPolicy {
  let compiled: RegExp | null = null;
  if (regex !== undefined && regex !== "") {
    try {
      compiled = new RegExp(`^(?:${regex})$`);
    } catch (e) {
      throw hkError(
        "CONFIG_INVALID",
        `${setting} is not a valid regular expression: ${(e as Error).message}`,
      );
    }
  }
  for (const o of origins) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) {
      throw hkError("CONFIG_INVALID", `CORS origin "${o}" is not an origin such as https://host:port`);
    }
  }
  return { origins, regex: compiled };
}

function allowedOrigin(policy: CorsPolicy, origin: string): boolean {
  return policy.origins.includes("*") || policy.origins.includes(origin) ||
    (policy.regex !== null && policy.regex.test(origin));
}

/** A header value echoed back must not be able to split the answer's headers. */
const safeHeaderValue = (v: string) => /^[\t\x20-\x7e]*$/.test(v) && v.length <= 1024;

function addHeaders(headers: Headers, extra: Record<string, string>): void {
  for (const k in extra) {
    const v = extra[k]!;
    const vary = k === "vary" ? headers.get("vary") : null;
    headers.set(k, vary !== null ? `${vary}, ${v}` : v);
  }
}

/** `resp` with `extra` headers: set in place (copying the answer cost a Headers and a body stream per request). */
function withHeaders(resp: Response, extra: Record<string, string>): Response {
  try {
    addHeaders(resp.headers, extra);
    return resp;
  } catch {
    // Immutable headers (Response.error(), an answer fetched as it is): a copy carries them.
  }
  const headers = new Headers(resp.headers);
  addHeaders(headers, extra);
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

/** Starlette's CORSMiddleware (allow_credentials, allow_methods and allow_headers "*") around `handler`. */
export function withCors(
  policy: CorsPolicy,
  handler: (req: Request) => Promise<Response>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    const origin = req.headers.get("origin");
    const requested = req.headers.get("access-control-request-method");
    if (req.method === "OPTIONS" && origin !== null && requested !== null) {
      const headers: Record<string, string> = {
        "access-control-allow-methods": ALL_METHODS,
        "access-control-max-age": "600",
        "access-control-allow-credentials": "true",
        vary: PREFLIGHT_VARY,
        "content-type": "text/plain; charset=utf-8",
      };
      const ok = allowedOrigin(policy, origin) && safeHeaderValue(origin);
      if (ok) headers["access-control-allow-origin"] = origin;
      const wanted = req.headers.get("access-control-request-headers");
      if (wanted !== null && safeHeaderValue(wanted)) headers["access-control-allow-headers"] = wanted;
      return new Response(ok ? "OK" : "Disallowed CORS origin", { status: ok ? 200 : 400, headers });
    }
    const resp = await handler(req);
    const extra: Record<string, string> = { vary: "Origin" };
    if (origin !== null) {
      extra["access-control-allow-credentials"] = "true";
      if (allowedOrigin(policy, origin) && safeHeaderValue(origin)) {
        extra["access-control-allow-origin"] = origin;
      }
    }
    return withHeaders(resp, extra);
  };
}

/** archive-api's routes (and `serve`'s own): path pattern -> methods, in its registration order. */
const ROUTES: [RegExp, string[]][] = [
  [/^\/health_check$/, ["GET"]],
  [/^\/msg\/[^/]+$/, ["GET"]],
  [/^\/msg\/[^/]+\/raw_file\/[^/]+$/, ["GET"]],
  [/^\/topic\/[^/]+$/, ["GET", "POST"]],
  [/^\/topics$/, ["GET"]],
  [/^\/messages$/, ["GET"]],
  [/^\/messages\/count$/, ["GET"]],
  [/^\/msg\/[^/]+\/retraction$/, ["PUT"]],
  [/^\/openapi\.json$/, ["GET"]],
  [/^\/docs$/, ["GET"]],
  [/^\/healthz$/, ["GET"]],
  [/^\/metrics$/, ["GET"]],
];

/**
 * The framework's answer when `path` has no route for `method` (404 or 405), or null when it has one. Allow lists
 * what archive-api's Allow lists: the methods of the first route of that path (for /topic/{t}: its GET).
 */
export function unrouted(method: string, path: string): Response | null {
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (route === undefined) return Response.json({ detail: "Not Found" }, { status: 404 });
  const methods = route[1];
  if (methods.includes(method) || (method === "HEAD" && methods.includes("GET"))) return null;
  const allow = path.startsWith("/topic/") ? "GET" : methods.join(", ");
  return Response.json({ detail: "Method Not Allowed" }, { status: 405, headers: { allow } });
}

/** HEAD of a GET route: the GET answer's status and headers, without its body. */
export async function headOf(resp: Response): Promise<Response> {
  await resp.body?.cancel().catch(() => {});
  return new Response(null, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
}
