// One place that turns a store URL from the configuration into a backend.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { hkError } from "../runtime/errors.ts";
import { createFsStore } from "./fs.ts";
import { createS3Store, type S3StoreOptions } from "./s3.ts";
import type { BlobStore } from "./types.ts";

/** S3 settings; the fs backend ignores them. */
export type OpenStoreOptions = Omit<S3StoreOptions, "bucket">;

// S3's rules for new buckets; checking here turns a typo into a clear message instead of an SDK error.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function urlError(url: string, problem: string): Error {
  return hkError(
    "STORE_URL_INVALID",
    `store URL ${JSON.stringify(url)} ${problem}; use s3://BUCKET, file:///ABSOLUTE/DIR or a directory path`,
  );
}

function s3Bucket(url: string): string {
  const rest = url.slice("s3://".length);
  const bucket = rest.endsWith("/") ? rest.slice(0, -1) : rest;
  if (bucket.includes("/")) {
    throw urlError(url, "has a path after the bucket (key prefixes are not supported)");
  }
  if (!BUCKET_NAME.test(bucket)) {
    throw urlError(url, "does not name a valid bucket (3-63 lowercase letters, digits, '.' and '-')");
  }
  return bucket;
}

function fileDir(url: string): string {
  // file:///abs/dir is a real file URL (percent-decoded); file://dir and file:dir are read as relative paths,
  // since people write them that way.
  if (url.startsWith("file:///") || url.startsWith("file://localhost/")) {
    try {
      return fileURLToPath(url);
    } catch (e) {
      throw Object.assign(urlError(url, "is not a valid file URL"), { cause: e });
    }
  }
  const path = url.replace(/^file:(\/\/)?/, "");
  if (path === "") throw urlError(url, "names no directory");
  return resolve(path);
}

/** "s3://bucket" -> S3; "file://DIR" or a plain path -> directory store. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<BlobStore> {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "s3") {
    if (!url.startsWith("s3://")) throw urlError(url, "is malformed");
    return await createS3Store({ ...options, bucket: s3Bucket(url) });
  }
  if (scheme === "file") return await createFsStore(fileDir(url));
  if (scheme !== undefined) throw urlError(url, `has unsupported scheme "${scheme}:"`);
  if (url.trim() === "") throw urlError(url, "is empty");
  return await createFsStore(resolve(url));
}
