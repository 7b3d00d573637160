// The client side of HTTP SCRAM-SHA-512 (RFC 7804 over RFC 5802) as hop-client's SCRAMAuth(shortcut=True) speaks
// it to hopauth: the first request already carries the client-first message, hopauth answers 401 with its
// server-first message and a session id, the same request is sent again with the proof, and the answer's
// Authentication-Info carries the server signature, which is checked: a server that does not know the password
// cannot pass off a policy as hopauth's. `serve` needs none of this (it relays its callers' SCRAM untouched).
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { hkError } from "../runtime/errors.ts";

const MECHANISM = "SCRAM-SHA-512";
/** A server asking for more rounds than this is hostile or broken: the client would spend seconds per request. */
const MAX_ITERATIONS = 1_000_000;

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const hmac = (key: Uint8Array, text: string) => createHmac("sha512", key).update(text).digest();
const sha512 = (b: Uint8Array) => createHash("sha512").update(b).digest();

/** RFC 7804's auth-params ("k=v, k=v", values base64 or quoted): the last of a repeated name wins. */
export function authParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const at = part.indexOf("=");
    if (at > 0) out[part.slice(0, at).trim()] = part.slice(at + 1).trim().replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** RFC 5802 5.1: ',' and '=' in a username are escaped. */
const saslName = (user: string) => user.replaceAll("=", "=3D").replaceAll(",", "=2C");

export interface ScramCredential {
  username: string;
  password: string;
}

/** `url` for messages: without any userinfo (serve's --hopauth-url may carry one). */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(the hopauth URL)";
  }
}

/** A SCRAM answer that cannot be trusted: a coded error that names the URL, never the credential. */
function scramError(url: string, why: string): Error {
  return hkError("HOPAUTH_AUTH", `hopauth at ${shownUrl(url)}: SCRAM authentication failed: ${why}`);
}

function decodeBase64(url: string, text: string | undefined, what: string): string {
  if (text === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw scramError(url, `no valid ${what}`);
  return Buffer.from(text, "base64").toString("utf8");
}

/**
 * PBKDF2 of `password` per (salt, iterations), remembered: hopauth keeps them fixed per credential, and each costs
 * thousands of HMACs.
 */
export function saltedPasswords(password: string): (salt: string, iterations: number) => Buffer {
  const salted = new Map<string, Buffer>();
  return (salt, iterations) => {
    const key = `${salt}:${iterations}`;
    let s = salted.get(key);
    if (s === undefined) {
      s = pbkdf2Sync(password, Buffer.from(salt, "base64"), iterations, 64, "sha512");
      salted.clear(); // one credential, one salt: nothing to keep but the latest
      salted.set(key, s);
    }
    return s;
  };
}

export interface ScramExchange {
  /** The Authorization value of the first request: the client-first message. */
  first: string;
  /**
   * For hopauth's challenge (the 401's WWW-Authenticate): the Authorization value that carries the proof, and the
   * server signature the answer's Authentication-Info must carry. A challenge that cannot be trusted throws.
   */
  final(url: string, challenge: string | null): { authorization: string; serverSignature: Buffer };
}

/** One SCRAM-SHA-512 exchange for `credential`, each message as hop-client's SCRAMAuth(shortcut=True) sends it. */
export function scramExchange(
  credential: ScramCredential,
  saltedPassword = saltedPasswords(credential.password),
): ScramExchange {
  const nonce = b64(randomBytes(24));
  const clientFirstBare = `n=${saslName(credential.username)},r=${nonce}`;
  const gs2 = "n,,";
  return {
    first: `${MECHANISM} data=${btoa(gs2 + clientFirstBare)}`,
    final(url, challenge) {
      if (challenge === null || !challenge.toUpperCase().startsWith(MECHANISM)) {
        throw scramError(url, "no SCRAM-SHA-512 challenge");
      }
      const params = authParams(challenge.slice(MECHANISM.length));
      const serverFirst = decodeBase64(url, params.data, "server-first message");
      const sf = authParams(serverFirst);
      const iterations = Number(sf.i);
      if (
        sf.r === undefined || !sf.r.startsWith(nonce) || sf.r.length <= nonce.length || sf.s === undefined ||
        !Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS ||
        params.sid === undefined
      ) {
        throw scramError(url, "malformed server-first message");
      }
      const salt = saltedPassword(sf.s, iterations);
      const clientKey = hmac(salt, "Client Key");
      const withoutProof = `c=${btoa(gs2)},r=${sf.r}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(sha512(clientKey), authMessage);
      const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
      return {
        authorization: `${MECHANISM} sid=${params.sid}, data=${btoa(`${withoutProof},p=${b64(proof)}`)}`,
        serverSignature: hmac(hmac(salt, "Server Key"), authMessage),
      };
    },
  };
}

/**
 * `fetch` with SCRAM-SHA-512 for `credential`: the answer to the authenticated request, whose server signature was
 * verified.
 */
export function scramFetcher(credential: ScramCredential, doFetch: typeof fetch = fetch) {
  const saltedPassword = saltedPasswords(credential.password);
  return async function scramFetch(url: string, init: RequestInit = {}): Promise<Response> {
    const exchange = scramExchange(credential, saltedPassword);
    const first = await doFetch(url, withAuth(init, exchange.first));
    const challenge = first.headers.get("www-authenticate");
    await first.body?.cancel();
    if (first.status !== 401) {
      // An answer without a SCRAM exchange proves nothing about who sent it: never taken for hopauth's.
      if (first.ok) throw scramError(url, "it answered without SCRAM authentication");
      throw hkError("HOPAUTH_FAILED", `hopauth at ${shownUrl(url)} answered status ${first.status}`, {
        retriable: true,
      });
    }
    const { authorization, serverSignature } = exchange.final(url, challenge);
    const answer = await doFetch(url, withAuth(init, authorization));
    if (answer.status === 401 || answer.status === 403) {
      await answer.body?.cancel();
      throw scramError(url, `status ${answer.status}: check the hopauth credential`);
    }
    if (!answer.ok) return answer;
    try {
      verifyServer(url, answer, serverSignature);
    } catch (e) {
      await answer.body?.cancel();
      throw e;
    }
    return answer;
  };
}

function withAuth(init: RequestInit, authorization: string): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("authorization", authorization);
  return { ...init, headers };
}

/** The server's proof that it knows the credential (RFC 5802 server-final "v="). */
function verifyServer(url: string, answer: Response, expected: Uint8Array): void {
  const info = answer.headers.get("authentication-info");
  const data = info === null ? undefined : authParams(info).data;
  const serverFinal = authParams(decodeBase64(url, data, "server-final message (Authentication-Info)"));
  const got = Buffer.from(serverFinal.v ?? "", "base64");
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw scramError(url, "the server signature does not match: not the hopauth that knows this credential");
  }
}
