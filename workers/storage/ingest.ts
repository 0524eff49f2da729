import { CarBlockIterator } from "@ipld/car/iterator";
import type { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { FileImporter } from "../../durable-objects/storage/unixfs-import.ts";
import type { BlockWriter } from "../../durable-objects/storage/writer.ts";
import { hex } from "../../protocol/digest.ts";
import { createHasher, init as initBlake3 } from "../../wasm/index.ts";
import { ApiError } from "../http/problem.ts";
import {
  buildDirectory,
  type DirEntry,
  DirectoryTooLarge,
  PathConflict,
  validPath,
} from "./unixfs-dir.ts";

/**
 * Turning request bodies into stored blocks. Each function streams its input into a
 * `BlockWriter` and stops with a problem the moment the input breaks a rule (too big, a block
 * that does not match its CID, a truncated CAR); the caller then aborts the writer, so nothing
 * half-stored survives.
 */
export interface Budget {
  /** Bytes the account may still store. */
  remaining: number;
}

export interface IngestedFile {
  cid: CID;
  size: number;
  /** Bytes of all the file's blocks: the Tsize a directory link to it carries. */
  dagSize: number;
  blake3: string;
}

function overQuota(budget: Budget): ApiError {
  return new ApiError(
    "storage_quota_exceeded",
    `This upload does not fit in the ${budget.remaining} bytes left in the account's storage quota.`,
  );
}

/** Imports a stream (or a sequence of streams, for sessions) as one UnixFS file. */
export async function ingestFile(
  sources: AsyncIterable<ReadableStream<Uint8Array>>,
  writer: BlockWriter,
  budget: Budget,
): Promise<IngestedFile> {
  await initBlake3();
  const blake3 = createHasher();
  const importer = new FileImporter(
    (cid, bytes) => writer.put(cid, bytes),
    (chunk) => blake3.update(chunk),
  );
  let read = 0;
  for await (const stream of sources) {
    for await (const piece of stream) {
      read += piece.length;
      if (read > budget.remaining) throw overQuota(budget);
      await importer.write(piece);
    }
  }
  const file = await importer.close();
  return { cid: file.cid, size: file.size, dagSize: file.dagSize, blake3: hex(blake3.digest()) };
}

export async function* single<T>(item: T): AsyncIterable<T> {
  yield item;
}

/**
 * Stores the blocks of a CARv1 after checking each against its CID. Only sha2-256 CIDs are
 * accepted: a block we cannot verify is a block we will not store.
 */
export async function ingestCar(
  stream: ReadableStream<Uint8Array>,
  writer: BlockWriter,
  budget: Budget,
): Promise<{ roots: CID[]; blocks: number; size: number }> {
  let iterator: CarBlockIterator;
  try {
    iterator = await CarBlockIterator.fromIterable(stream);
  } catch (err) {
    throw new ApiError("invalid_car", `The CAR header could not be read: ${message(err)}.`);
  }
  const roots = await iterator.getRoots();
  if (roots.length === 0) throw new ApiError("invalid_car", "The CAR names no root.");
  let blocks = 0;
  let size = 0;
  try {
    for await (const { cid, bytes } of iterator) {
      if (cid.multihash.code !== sha256.code) {
        throw new ApiError("car_block_mismatch", `Block ${cid} uses a hash other than sha2-256.`);
      }
      const digest = await sha256.digest(bytes);
      if (!equal(digest.digest, cid.multihash.digest)) {
        throw new ApiError(
          "car_block_mismatch",
          `Block ${blocks + 1} does not hash to its CID ${cid}.`,
        );
      }
      size += bytes.length;
      if (size > budget.remaining) throw overQuota(budget);
      await writer.put(cid, bytes);
      blocks++;
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError("invalid_car", `The CAR is truncated or malformed: ${message(err)}.`);
  }
  return { roots, blocks, size };
}

/** Builds a UnixFS directory from the files of a multipart form, each part's filename its path. */
export async function ingestDirectory(
  form: FormData,
  writer: BlockWriter,
  budget: Budget,
): Promise<{ cid: CID; size: number; files: number }> {
  const entries: DirEntry[] = [];
  const seen = new Set<string>();
  let size = 0;
  for (const value of form.values()) {
    if (typeof value === "string") continue; // plain fields are not files
    const path = value.name;
    if (!validPath(path)) {
      throw new ApiError("invalid_path", `"${path}" is not a relative path without . or .. parts.`);
    }
    if (seen.has(path)) throw new ApiError("invalid_path", `"${path}" appears twice.`);
    seen.add(path);
    const remaining = { remaining: budget.remaining - size };
    const file = await ingestFile(single(value.stream()), writer, remaining);
    size += file.size;
    entries.push({ path, cid: file.cid, dagSize: file.dagSize });
  }
  if (entries.length === 0) {
    throw new ApiError("validation_failed", "The form holds no files (parts with a filename).");
  }
  try {
    const root = await buildDirectory(entries, (cid, bytes) => writer.put(cid, bytes));
    return { cid: root.cid, size, files: entries.length };
  } catch (err) {
    if (err instanceof DirectoryTooLarge) {
      throw new ApiError("directory_too_large", `${err.message}; upload it as a CAR instead.`);
    }
    if (err instanceof PathConflict) throw new ApiError("invalid_path", err.message);
    throw err;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
