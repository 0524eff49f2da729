import { base32 } from "multiformats/bases/base32";
import type { CID } from "multiformats/cid";

/**
 * IPFS blocks in R2, addressed by multihash (not by CID): the same bytes stored as `raw` and as
 * `dag-pb` are one object, and a CIDv0 and a CIDv1 of the same block find it alike.
 *
 * Keys are `blocks/<multibase base32 of the multihash bytes>` (e.g. `blocks/bciqa...`). Nothing here
 * verifies bytes: writers hash before they put, readers that serve untrusted clients rely on the
 * client verifying (trustless gateway) or re-hash themselves.
 */
export interface BlockBindings {
  BLOCKS: R2Bucket;
}

export function blockKey(cid: CID): string {
  return `blocks/${base32.encode(cid.multihash.bytes)}`;
}

export class BlockStore {
  constructor(private readonly bucket: R2Bucket) {}

  async get(cid: CID): Promise<Uint8Array | null> {
    const object = await this.bucket.get(blockKey(cid));
    return object ? new Uint8Array(await object.arrayBuffer()) : null;
  }

  async has(cid: CID): Promise<boolean> {
    return (await this.bucket.head(blockKey(cid))) !== null;
  }

  /** Stores a block whose bytes the caller has already hashed to `cid`. Idempotent. */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    await this.bucket.put(blockKey(cid), bytes);
  }

  async delete(cid: CID): Promise<void> {
    await this.bucket.delete(blockKey(cid));
  }
}
