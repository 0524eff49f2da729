import { env } from "cloudflare:workers";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import type { CID } from "multiformats/cid";
import { BlockStore } from "../../durable-objects/storage/blocks.ts";

/**
 * Real UnixFS DAGs for the gateway tests, imported with ipfs-unixfs-importer under Kubo's
 * `unixfs-v1-2025` profile (CIDv1, raw leaves, 1 MiB chunks, balanced DAG, 1024 links per node)
 * and written into the test's R2 `BLOCKS` bucket through the production `BlockStore`.
 */
export const store = new BlockStore(env.BLOCKS);

/** Every block the importer wrote, for tests that need to know the DAG (e.g. CAR contents). */
export const written = new Map<string, Uint8Array>();

const blockstore = {
  async put(cid: CID, value: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    const bytes = value instanceof Uint8Array ? value : await concat(value);
    written.set(cid.toString(), bytes);
    await store.put(cid, bytes);
    return cid;
  },
};

async function concat(
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const p of parts) chunks.push(p);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export const PROFILE = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 1048576 }),
  layout: balanced({ maxChildrenPerNode: 1024 }),
} as const;

export async function importFile(
  content: Uint8Array,
  options: { chunkSize?: number; maxChildren?: number } = {},
) {
  const opts = {
    ...PROFILE,
    ...(options.chunkSize ? { chunker: fixedSize({ chunkSize: options.chunkSize }) } : {}),
    ...(options.maxChildren
      ? { layout: balanced({ maxChildrenPerNode: options.maxChildren }) }
      : {}),
  };
  let root: CID | undefined;
  for await (const entry of importer([{ content }], blockstore, opts)) root = entry.cid;
  if (!root) throw new Error("importer returned nothing");
  return root;
}

/** A directory tree from `{ "a/b.txt": bytes }`, wrapped in one root directory. */
export async function importTree(
  files: Record<string, Uint8Array>,
  options: { shardSplitThresholdBytes?: number } = {},
) {
  let root: CID | undefined;
  const source = Object.entries(files).map(([path, content]) => ({ path, content }));
  for await (const entry of importer(source, blockstore, {
    ...PROFILE,
    wrapWithDirectory: true,
    ...options,
  })) {
    root = entry.cid; // the wrapping directory comes last
  }
  if (!root) throw new Error("importer returned nothing");
  return root;
}

/** Deterministic pseudo-random bytes (xorshift), so a failure shows the same data every run. */
export function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const text = (s: string) => new TextEncoder().encode(s);

/** SHA-256 hex of some bytes: compare large bodies by digest (deep equality is slow on MiBs). */
export async function sha256(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const view = bytes instanceof Uint8Array ? bytes.slice() : new Uint8Array(bytes);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", view));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
