import { base32 } from "multiformats/bases/base32";
import type { CID } from "multiformats/cid";
import { decode as decodeMultihash } from "multiformats/hashes/digest";
import type { BlockRefs } from "../block-refs/block-refs.ts";
import { blockKey } from "./blocks.ts";

/**
 * Writes the blocks of one upload attempt so that a failure leaves nothing behind.
 *
 * Every block is registered with its `BlockRefs` shard under this attempt's owner id before it is
 * put in R2; blocks are buffered and flushed in batches so a CAR of many small blocks does not
 * cost one Durable Object call per block. `abort()` unregisters everything written, which deletes
 * the blocks no other upload shares; `commit()` stores the list of block keys (the manifest) so a
 * later delete knows what to unregister.
 */
export interface WriterBindings {
  BLOCKS: R2Bucket;
  BLOCK_REFS: DurableObjectNamespace<BlockRefs>;
}

const BATCH_BLOCKS = 64;
const BATCH_BYTES = 16 * 1024 * 1024;

/**
 * The `BlockRefs` shard of a block: the first hex digit of its digest, `refs:0` to `refs:f`.
 * Sixteen shards spread writes while keeping an upload's fan-out small; more is a rename away.
 */
export function shardOf(cid: CID): string {
  return shardOfDigest(cid.multihash.digest);
}

function shardOfDigest(digest: Uint8Array): string {
  return `refs:${((digest[0] ?? 0) >> 4).toString(16)}`;
}

/** The shard of a block key (`blocks/<multibase base32 multihash>`). */
function shardOfKey(key: string): string {
  return shardOfDigest(decodeMultihash(base32.decode(key.slice("blocks/".length))).digest);
}

export function manifestKey(owner: string): string {
  return `manifests/${owner}`;
}

export class BlockWriter {
  private buffer: { cid: CID; bytes: Uint8Array }[] = [];
  private bufferedBytes = 0;
  private readonly written = new Map<string, string>(); // key -> shard
  /** Bytes of distinct blocks written by this attempt. */
  bytes = 0;
  private sealed = false;

  constructor(
    private readonly env: WriterBindings,
    readonly owner: string,
  ) {}

  get blockCount(): number {
    return this.written.size + this.buffer.length;
  }

  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    // A repeated block (zero-filled chunks, shared subtrees) is stored and counted once.
    const key = blockKey(cid);
    if (this.written.has(key) || this.buffer.some((b) => blockKey(b.cid) === key)) return;
    this.buffer.push({ cid, bytes });
    this.bufferedBytes += bytes.length;
    if (this.buffer.length >= BATCH_BLOCKS || this.bufferedBytes >= BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    if (batch.length === 0) return;
    const byShard = new Map<string, string[]>();
    for (const { cid } of batch) {
      const shard = shardOf(cid);
      byShard.set(shard, [...(byShard.get(shard) ?? []), blockKey(cid)]);
    }
    await Promise.all(
      [...byShard].map(([shard, keys]) => this.shard(shard).addRefs(this.owner, keys)),
    );
    // Registered before written: from here on, a failure must unregister these.
    for (const { cid } of batch) this.written.set(blockKey(cid), shardOf(cid));
    await Promise.all(batch.map(({ cid, bytes }) => this.env.BLOCKS.put(blockKey(cid), bytes)));
    for (const { bytes } of batch) this.bytes += bytes.length;
  }

  /**
   * Flushes and records the manifest; the blocks now belong to `owner` until it is released by
   * `releaseUpload`. From here on `abort()` does nothing: once an upload may have been recorded,
   * a later failure must leak blocks rather than delete blocks a recorded upload needs.
   */
  async commit(): Promise<void> {
    await this.flush();
    this.sealed = true;
    await this.env.BLOCKS.put(manifestKey(this.owner), [...this.written.keys()].join("\n"));
  }

  /** Unregisters every block this attempt wrote; blocks nobody else owns are deleted. */
  async abort(): Promise<void> {
    if (this.sealed) return;
    this.buffer = [];
    await releaseBlocks(this.env, this.owner, this.written);
    this.written.clear();
  }

  private shard(name: string) {
    return this.env.BLOCK_REFS.get(this.env.BLOCK_REFS.idFromName(name));
  }
}

/** Releases every block of a committed upload, by its manifest, and deletes the manifest. */
export async function releaseUpload(env: WriterBindings, owner: string): Promise<void> {
  const manifest = await env.BLOCKS.get(manifestKey(owner));
  if (manifest) {
    const keys = (await manifest.text()).split("\n").filter(Boolean);
    const byKey = new Map(keys.map((k) => [k, shardOfKey(k)]));
    await releaseBlocks(env, owner, byKey);
  }
  await env.BLOCKS.delete(manifestKey(owner));
}

async function releaseBlocks(env: WriterBindings, owner: string, blocks: Map<string, string>) {
  const byShard = new Map<string, string[]>();
  for (const [key, shard] of blocks) byShard.set(shard, [...(byShard.get(shard) ?? []), key]);
  await Promise.all(
    [...byShard].map(([shard, keys]) =>
      env.BLOCK_REFS.get(env.BLOCK_REFS.idFromName(shard)).removeRefs(owner, keys),
    ),
  );
}
