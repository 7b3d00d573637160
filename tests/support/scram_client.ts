// HTTP SCRAM-SHA-512 (RFC 7804) for tests that must send authenticated requests of their own making (raw bytes,
// hostile framing) rather than through hop-client: lib/hopauth/scram.ts's exchange, with the first round answered
// by the hopauth stand-in itself and the final message left for the request under test to carry.
import { saltedPasswords, scramExchange } from "../../lib/hopauth/scram.ts";

/**
 * Authorization header values for `user`, each good for one request: the SCRAM first round is done against
 * `hopauthUrl` (the stand-in's API root) and the final message is left for the request itself to carry.
 */
export function scramClient(hopauthUrl: string, user: string, password: string) {
  const salted = saltedPasswords(password);
  return async function authorization(): Promise<string> {
    const exchange = scramExchange({ username: user, password }, salted);
    const resp = await fetch(`${hopauthUrl}/v1/multi`, {
      method: "POST",
      headers: { authorization: exchange.first },
      body: "{}",
    });
    await resp.body?.cancel();
    return exchange.final(hopauthUrl, resp.headers.get("www-authenticate")).authorization;
  };
}
