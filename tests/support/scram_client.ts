// A client side of HTTP SCRAM-SHA-512 (RFC 7804) for tests that must send authenticated requests of their own
// making (raw bytes, hostile framing) rather than through hop-client: the first round is answered by the hopauth
// stand-in itself, and the returned Authorization value carries the client's final message for one request.
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const hmac = (key: Uint8Array, text: string) => createHmac("sha512", key).update(text).digest();

/** "k=v, k=v" with values that may contain '=' (base64). */
function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const at = part.indexOf("=");
    if (at > 0) out[part.slice(0, at).trim()] = part.slice(at + 1).trim().replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/**
 * Authorization header values for `user`, each good for one request: the SCRAM first round is done against
 * `hopauthUrl` (the stand-in's API root) and the final message is left for the request itself to carry.
 */
export function scramClient(hopauthUrl: string, user: string, password: string) {
  const salted = new Map<string, Buffer>();
  return async function authorization(): Promise<string> {
    const nonce = b64(randomBytes(18));
    const bare = `n=${user},r=${nonce}`;
    const resp = await fetch(`${hopauthUrl}/v1/multi`, {
      method: "POST",
      headers: { authorization: `SCRAM-SHA-512 data=${btoa(`n,,${bare}`)}` },
      body: "{}",
    });
    await resp.body?.cancel();
    const challenge = fields((resp.headers.get("www-authenticate") ?? "").replace(/^SCRAM-SHA-512\s*/, ""));
    if (challenge.sid === undefined || challenge.data === undefined) {
      throw new Error(`no SCRAM challenge from ${hopauthUrl} (status ${resp.status})`);
    }
    const serverFirst = atob(challenge.data);
    const { r, s, i } = fields(serverFirst);
    const key = `${s}:${i}`;
    if (!salted.has(key)) {
      salted.set(key, pbkdf2Sync(password, Buffer.from(s!, "base64"), Number(i), 64, "sha512"));
    }
    const clientKey = hmac(salted.get(key)!, "Client Key");
    const storedKey = createHash("sha512").update(clientKey).digest();
    const withoutProof = `c=${btoa("n,,")},r=${r}`;
    const signature = hmac(storedKey, `${bare},${serverFirst},${withoutProof}`);
    const proof = clientKey.map((b, j) => b ^ signature[j]!);
    return `SCRAM-SHA-512 sid=${challenge.sid}, data=${btoa(`${withoutProof},p=${b64(proof)}`)}`;
  };
}
