// A directory as the object store (laptops, air-gapped copies): the same key layout as S3, one file per key.
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { crc32 as checksum } from "../format/checksum.ts";
import { hkError, type HousekeepingError } from "../runtime/errors.ts";
import { concat } from "../runtime/bytes.ts";
import { type BlobStore, checkCrc32, checkKey, compareKeys } from "./types.ts";

// Uploads in progress live here, never under their final name, so a crash leaves no half-written object behind.
// It sits inside the store so that rename(2) stays on one file system and is atomic.
const TMP_DIR = ".housekeeping-tmp";

type ErrnoError = Error & { code?: string };

function errno(e: unknown): string | undefined {
  return (e as ErrnoError | undefined)?.code;
}

function fsError(e: unknown, action: string, root: string): HousekeepingError {
  const code = errno(e) ?? "";
  const opts = { cause: e };
  const detail = e instanceof Error ? e.message : String(e);
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return hkError(
      "STORE_ACCESS_DENIED",
      `${action}: permission denied (${code}); check that this user may write to ${root}`,
      opts,
    );
  }
  if (code === "ENOSPC" || code === "EDQUOT") {
    return hkError("STORE_FULL", `${action}: no space left under ${root}; free disk space`, {
      ...opts,
      retriable: true,
    });
  }
  if (code === "EISDIR" || code === "ENOTDIR" || code === "ENOTEMPTY" || code === "EEXIST") {
    return hkError(
      "STORE_KEY_CONFLICT",
      `${action}: a directory store cannot hold both a key and keys below it (${code})`,
      opts,
    );
  }
  return hkError("STORE_FAILED", `${action} under ${root} failed: ${detail}`, {
    ...opts,
    retriable: code === "EMFILE" || code === "ENFILE" || code === "EAGAIN",
  });
}

// readFile hands out Buffers; callers compare with deepStrictEqual, which tells a Buffer from a Uint8Array.
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isAbsent(e: unknown): boolean {
  const code = errno(e);
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

// A renamed file survives power loss only once its directory entry is on disk too.
async function syncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeDurably(path: string, body: Uint8Array): Promise<void> {
  const handle = await open(path, "wx", 0o644);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A store in directory `dir` (created if missing). */
export async function createFsStore(dir: string): Promise<BlobStore> {
  const root = resolve(dir);
  try {
    await mkdir(join(root, TMP_DIR), { recursive: true });
  } catch (e) {
    throw fsError(e, `opening ${root}`, root);
  }
  const url = pathToFileURL(root).href;

  function pathOf(key: string): string {
    checkKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) {
      throw hkError(
        "STORE_KEY_INVALID",
        `object key ${JSON.stringify(key)} is not usable: ${TMP_DIR} is reserved`,
      );
    }
    return join(root, key);
  }

  function mismatch(key: string, what: string, retriable: boolean): HousekeepingError {
    return hkError("STORE_CHECKSUM_MISMATCH", `PUT ${key}: ${what} does not match the given CRC-32`, {
      retriable,
    });
  }

  async function put(key: string, pieces: Uint8Array | readonly Uint8Array[], crc32: number): Promise<void> {
    const target = pathOf(key);
    const body = pieces instanceof Uint8Array ? pieces : concat(pieces);
    checkCrc32(crc32);
    // Same bytes, same answer: retrying cannot help, unlike a mismatch on disk below.
    if (checksum(body) !== crc32) throw mismatch(key, "the body", false);
    const tmp = join(root, TMP_DIR, crypto.randomUUID());
    try {
      await writeDurably(tmp, body);
      // Read back what the disk holds, so a faulty write never reaches the final name.
      if (checksum(await readFile(tmp)) !== crc32) throw mismatch(key, "the file written", true);
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      await syncDir(dirname(target));
    } catch (e) {
      await rm(tmp, { force: true });
      if ((e as HousekeepingError).code === "STORE_CHECKSUM_MISMATCH") throw e;
      throw fsError(e, `PUT ${key}`, root);
    }
  }

  async function get(key: string): Promise<Uint8Array | null> {
    const path = pathOf(key);
    try {
      return plain(await readFile(path));
    } catch (e) {
      if (isAbsent(e)) return null;
      throw fsError(e, `GET ${key}`, root);
    }
  }

  async function getStream(key: string) {
    const path = pathOf(key);
    try {
      const file = await Deno.open(path, { read: true });
      const info = await file.stat();
      if (!info.isFile) {
        file.close();
        return null;
      }
      return { size: info.size, body: file.readable };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw fsError(e, `GET ${key}`, root);
    }
  }

  async function head(key: string): Promise<{ size: number } | null> {
    const path = pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { size: info.size } : null;
    } catch (e) {
      if (isAbsent(e)) return null;
      throw fsError(e, `HEAD ${key}`, root);
    }
  }

  // Depth-first over directories sorted by "name/" (files by "name"): the concatenation of such walks is exactly
  // the byte order of the full keys, so nothing needs to be collected and sorted as a whole.
  async function* walk(rel: string, prefix: string): AsyncGenerator<{ key: string; size: number }> {
    let entries;
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch (e) {
      if (isAbsent(e)) return;
      throw fsError(e, `LIST ${prefix}`, root);
    }
    const items = entries
      .filter((d) => d.isDirectory() || d.isFile())
      .filter((d) => !(rel === "" && d.name === TMP_DIR))
      .map((d) => ({ name: rel + d.name + (d.isDirectory() ? "/" : ""), isDir: d.isDirectory() }))
      .sort((a, b) => compareKeys(a.name, b.name));
    for (const item of items) {
      if (item.isDir) {
        if (item.name.startsWith(prefix) || prefix.startsWith(item.name)) yield* walk(item.name, prefix);
      } else if (item.name.startsWith(prefix)) {
        const info = await stat(join(root, item.name)).catch((e) => {
          if (isAbsent(e)) return null;
          throw fsError(e, `LIST ${prefix}`, root);
        });
        if (info !== null) yield { key: item.name, size: info.size };
      }
    }
  }

  return {
    url,
    bucket: url,
    put,
    get,
    getStream,
    head,
    list: (prefix = "") => walk("", prefix),
    close() {},
  };
}
