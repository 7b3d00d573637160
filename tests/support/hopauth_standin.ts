// A local stand-in for the hopauth REST API (scimma-admin) as archive-api and `serve` use it: /version, and
// /v1/multi with the sub-requests they send. Authentication is real HTTP SCRAM-SHA-512 (RFC 7804 over RFC 5802):
// salted, iterated password verification of the client's proof, and a server signature that hop-client's own
// SCRAM client checks. Permissions come from a table, and a credential without Read or Write is refused.
// GET /v1/topics answers the topic table with scimma-admin's field names (KafkaTopicAdminSerializer), as
// archive-core reads it for its topic policy; a test switches the flags while a client runs (setTopic).
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
// RFC 7804 auth-params, parsed as the client library parses them.
import { authParams } from "../../lib/hopauth/scram.ts";

export interface StandInOptions {
  /** username -> password */
  users: Record<string, string>;
  /** username -> topic -> allowed operations ("Read", "Write", "All", ...) */
  permissions: Record<string, Record<string, string[]>>;
  /** Path of the API under the host, as in https://admin.hop.scimma.org/hopauth/api. */
  root?: string;
  /** username -> groups the user is an Owner of (every topic here is owned by the group "tests"). */
  owners?: Record<string, string[]>;
  /** REST tokens (`Authorization: Token <token>`, scimma-admin's rest_authtoken): token -> username. */
  tokens?: Record<string, string>;
  /** Topic name -> its flags (scimma-admin's defaults for those not given), for GET /v1/topics. */
  topics?: Record<string, Partial<TopicFlags>>;
}

/** scimma-admin's KafkaTopic flags that archive-core reads. */
export interface TopicFlags {
  archivable: boolean;
  publicly_readable: boolean;
  index_archived_text: boolean;
}

export interface StandIn {
  url: string;
  /** Every /v1/multi and /v1/topics call: the SCRAM phase seen and the outcome. */
  calls: { phase: "none" | "first" | "final" | "other"; status: number; user?: string }[];
  /** Sets a topic's flags (creating it with scimma-admin's defaults): takes effect on the next GET /v1/topics. */
  setTopic(name: string, flags: Partial<TopicFlags>): void;
  /** Answered GET /v1/topics requests that passed SCRAM. */
  readonly topicListings: number;
  close(): Promise<void>;
}

const ITERATIONS = 4096;
const b64 = (b: Uint8Array | Buffer) => Buffer.from(b).toString("base64");
const hmac = (key: Uint8Array, text: string) => createHmac("sha512", key).update(text).digest();
const h = (b: Uint8Array) => createHash("sha512").update(b).digest();

/** A client's base64, or null when it is not base64: a real hopauth refuses that, it does not fail (500). */
function fromBase64(data: string): string | null {
  try {
    return atob(data);
  } catch {
    return null;
  }
}

function unescapeName(name: string): string {
  return name.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

export function startHopAuthStandIn(options: StandInOptions): StandIn {
  const root = options.root ?? "/hopauth/api";
  const secrets = new Map(
    Object.entries(options.users).map(([user, password]) => {
      const salt = randomBytes(16);
      const salted = pbkdf2Sync(password, salt, ITERATIONS, 64, "sha512");
      return [user, {
        salt,
        storedKey: h(hmac(salted, "Client Key")),
        serverKey: hmac(salted, "Server Key"),
      }];
    }),
  );
  const exchanges = new Map<
    string,
    { user: string; gs2: string; clientFirstBare: string; serverFirst: string }
  >();
  const calls: StandIn["calls"] = [];
  const knownTopics = new Set(Object.values(options.permissions).flatMap((t) => Object.keys(t)));
  // scimma-admin's model defaults: not archivable, not public, text indexed.
  const defaults: TopicFlags = { archivable: false, publicly_readable: false, index_archived_text: true };
  const topics = new Map<string, TopicFlags>();
  const setTopic = (name: string, flags: Partial<TopicFlags>) => {
    topics.set(name, { ...defaults, ...topics.get(name), ...flags });
    knownTopics.add(name);
  };
  for (const [name, flags] of Object.entries(options.topics ?? {})) setTopic(name, flags);
  let topicListings = 0;

  // A topic only named in `permissions`: archived, not public, not indexed.
  const permissionOnly: TopicFlags = {
    archivable: true,
    publicly_readable: false,
    index_archived_text: false,
  };

  /** One topic as scimma-admin's v1 KafkaTopicAdminSerializer writes it (every topic owned by "tests"). */
  function topicJson(name: string, id: number) {
    const f = topics.get(name) ?? permissionOnly;
    return {
      id,
      owning_group: "tests",
      name,
      publicly_readable: f.publicly_readable,
      description: "",
      archivable: f.archivable,
      index_archived_text: f.index_archived_text,
      n_partitions: 2,
      max_message_bytes: 1000012,
      retention_ms: 2422800000,
      retention_bytes: -1,
    };
  }

  function challenge(extra = ""): Response {
    return new Response(JSON.stringify({ detail: "Authentication credentials were not provided." }), {
      status: 401,
      headers: { "www-authenticate": `SCRAM-SHA-512${extra}`, "content-type": "application/json" },
    });
  }

  function scramFirst(data: string): Response {
    const clientFirst = fromBase64(data) ?? "";
    const m = /^([ny]),(a=[^,]*)?,(.*)$/.exec(clientFirst);
    const bare = m ? authParams(m[3]!) : {};
    const user = bare.n === undefined ? undefined : unescapeName(bare.n);
    const secret = user === undefined ? undefined : secrets.get(user);
    if (!m || secret === undefined || bare.r === undefined) {
      calls.push({ phase: "first", status: 403 });
      return Response.json({ detail: "Unknown credential" }, { status: 403 });
    }
    const sid = crypto.randomUUID();
    const serverFirst = `r=${bare.r}${b64(randomBytes(18))},s=${b64(secret.salt)},i=${ITERATIONS}`;
    exchanges.set(sid, { user: user!, gs2: `${m[1]},${m[2] ?? ""},`, clientFirstBare: m[3]!, serverFirst });
    calls.push({ phase: "first", status: 401, user: user! });
    return challenge(` sid=${sid}, data=${btoa(serverFirst)}`);
  }

  /** The verified user and the Authentication-Info header, or null. */
  function scramFinal(sid: string, data: string): { user: string; info: string } | null {
    const ex = exchanges.get(sid);
    exchanges.delete(sid);
    if (ex === undefined) return null;
    const clientFinal = fromBase64(data);
    if (clientFinal === null) return null;
    const at = clientFinal.lastIndexOf(",p=");
    if (at < 0) return null;
    const withoutProof = clientFinal.slice(0, at);
    const f = authParams(withoutProof);
    const nonce = authParams(ex.serverFirst).r;
    if (f.r !== nonce || f.c !== btoa(ex.gs2)) return null;
    const secret = secrets.get(ex.user)!;
    const authMessage = `${ex.clientFirstBare},${ex.serverFirst},${withoutProof}`;
    const proof = Buffer.from(clientFinal.slice(at + 3), "base64");
    const signature = hmac(secret.storedKey, authMessage);
    if (proof.length !== signature.length) return null;
    const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
    if (!timingSafeEqual(h(clientKey), secret.storedKey)) return null;
    const serverFinal = `v=${b64(hmac(secret.serverKey, authMessage))}`;
    return { user: ex.user, info: `sid=${sid}, data=${btoa(serverFinal)}` };
  }

  function subAnswer(user: string, path: string): { status: number; body: unknown } {
    const rel = path.startsWith(root) ? path.slice(root.length) : path;
    let m = /^\/v1\/current_credential\/permissions\/topic\/(.+)$/.exec(rel);
    if (m) {
      return {
        status: 200,
        body: { allowed_operations: options.permissions[user]?.[decodeURIComponent(m[1]!)] ?? [] },
      };
    }
    m = /^\/v1\/topics\/(.+)$/.exec(rel);
    if (m) {
      const topic = decodeURIComponent(m[1]!);
      return knownTopics.has(topic)
        ? { status: 200, body: topicJson(topic, 1) }
        : { status: 404, body: { detail: "Not found." } };
    }
    if (rel === "/v1/current_user") {
      return { status: 200, body: { username: user, email: `${user}@example.org` } };
    }
    if (rel === "/v1/current_credential") return { status: 200, body: { username: user } };
    // scimma-admin's field names: archive-api reads `topic` and `operation`, `group` and `status`.
    if (rel === "/v1/current_user/available_permissions") {
      const topics = options.permissions[user] ?? {};
      return {
        status: 200,
        body: Object.entries(topics).flatMap(([topic, ops]) =>
          ops.map((operation) => ({ topic, operation }))
        ),
      };
    }
    if (rel === "/v1/current_user/memberships") {
      const owned = options.owners?.[user] ?? [];
      return { status: 200, body: owned.map((group) => ({ user, group, status: "Owner" })) };
    }
    return { status: 404, body: { detail: "Not found." } };
  }

  /** The SCRAM-verified user and the Authentication-Info header, or the answer to send instead. */
  /** The verified user and the Authentication-Info header (none for a token), or the answer to send instead. */
  function authenticate(req: Request): { user: string; info: string | null } | Response {
    const header = req.headers.get("authorization");
    if (header === null) {
      calls.push({ phase: "none", status: 401 });
      return challenge();
    }
    const token = /^Token\s+(\S+)$/.exec(header);
    if (token) {
      const tokens = options.tokens ?? {};
      const user = Object.hasOwn(tokens, token[1]!) ? tokens[token[1]!]! : undefined;
      calls.push({ phase: "other", status: user === undefined ? 401 : 200, ...(user ? { user } : {}) });
      return user === undefined ? challenge() : { user, info: null };
    }
    const m = /^SCRAM-SHA-512\s+(.*)$/i.exec(header);
    if (!m) {
      calls.push({ phase: "other", status: 401 });
      return challenge();
    }
    const auth = authParams(m[1]!);
    if (auth.sid === undefined) return scramFirst(auth.data ?? "");
    const verified = scramFinal(auth.sid, auth.data ?? "");
    if (verified === null) {
      calls.push({ phase: "final", status: 401 });
      return challenge();
    }
    calls.push({ phase: "final", status: 200, user: verified.user });
    return verified;
  }

  const infoHeader = (info: string | null): Record<string, string> =>
    info === null ? {} : { "authentication-info": info };

  async function multi(req: Request): Promise<Response> {
    const verified = authenticate(req);
    if (verified instanceof Response) return verified;
    const requests = await req.json() as Record<string, { path: string }>;
    const answers = Object.fromEntries(
      Object.entries(requests).map(([name, sub]) => [name, subAnswer(verified.user, sub.path)]),
    );
    return Response.json(answers, { headers: infoHeader(verified.info) });
  }

  // What archive-core reads (GET /v1/topics with the archiver's own credential; in production it is staff and sees
  // every topic): the topics given flags, and those only named in `permissions`.
  function topicList(req: Request): Response {
    const verified = authenticate(req);
    if (verified instanceof Response) return verified;
    topicListings++;
    const body = [...knownTopics].map((name, i) => topicJson(name, i + 1));
    return Response.json(body, { headers: infoHeader(verified.info) });
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === `${root}/version`) return Response.json({ version: "stand-in" });
    if (req.method === "POST" && path === `${root}/v1/multi`) return await multi(req);
    if (req.method === "GET" && path === `${root}/v1/topics`) return topicList(req);
    return new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}${root}`,
    calls,
    setTopic,
    get topicListings() {
      return topicListings;
    },
    close: () => server.shutdown(),
  };
}
