// A TCP relay on loopback in front of a real service (PostgreSQL, MinIO, the hopauth stand-in) that can go silent:
// frozen, it keeps accepting and reading but passes nothing on either way, as a hung server or a black-holed
// network does. Connections frozen stay silent for good (a hung server never wakes them); after thaw(), new
// connections are relayed again. Nothing is mocked: the client under test talks TCP to this, and this to the
// service.

export interface SilentProxy {
  /** host:port to give the client instead of the service's. */
  readonly address: string;
  readonly port: number;
  freeze(): void;
  thaw(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export function startSilentProxy(target: { hostname: string; port: number }): SilentProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let frozen = false;
  let accepted = 0;
  const open = new Set<Deno.Conn>();
  // Each connection remembers whether it was born or caught frozen; frozen ones never relay again.
  async function pump(from: Deno.Conn, to: Deno.Conn | null, isFrozen: () => boolean) {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      if (isFrozen() || to === null) continue; // swallowed
      for (let at = 0; at < n;) at += await to.write(buf.subarray(at, n));
    }
    if (!isFrozen()) to?.closeWrite().catch(() => {});
  }
  async function handle(client: Deno.Conn) {
    let dead = frozen;
    const isFrozen = () => (dead ||= frozen);
    const server = dead ? null : await Deno.connect(target).catch(() => null);
    for (const c of [client, server]) if (c) open.add(c);
    await Promise.allSettled([
      pump(client, server, isFrozen),
      server ? pump(server, client, isFrozen) : Promise.resolve(),
    ]);
    for (const c of [client, server]) {
      if (!c) continue;
      open.delete(c);
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      accepted++;
      handle(conn).catch(() => {});
    }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    freeze: () => void (frozen = true),
    thaw: () => void (frozen = false),
    get accepted() {
      return accepted;
    },
    async close() {
      listener.close();
      await accepting;
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
