import type { CID } from "multiformats/cid";
import type { BlockStore } from "../../durable-objects/storage/blocks.ts";
import { ApiError } from "../http/problem.ts";
import { IDENTITY, SHA2_256, SHA2_512 } from "./cid.ts";
import type { BlockSource } from "./upstream.ts";

const SUBTLE_HASH: Record<number, string> = { [SHA2_256]: "SHA-256", [SHA2_512]: "SHA-512" };

/** True when the gateway can check a block against this CID's multihash. */
export function canVerify(cid: CID): boolean {
  return cid.multihash.code === IDENTITY || cid.multihash.code in SUBTLE_HASH;
}

/** A block as it leaves the gateway: bytes that were checked against `cid`. */
export interface Block {
  cid: CID;
  bytes: Uint8Array;
}

/** Thrown (mid-stream) or mapped to 404 (before a response starts) when a block is absent. */
export class BlockNotFound extends ApiError {
  constructor(readonly cid: CID) {
    super("content_not_found", `Block ${cid} is not available on this gateway.`);
  }
}

/**
 * Reads blocks from the store and re-hashes every one against its CID before anyone sees it, so
 * a corrupted or tampered R2 object can never be served as content (`block_corrupt`). Identity
 * CIDs carry their bytes inline and never touch the store.
 *
 * Keeps the last few small (non-leaf) blocks of one request so that path resolution, content
 * sniffing and streaming do not fetch the same directory or file root twice.
 */
export class VerifiedBlocks {
  private readonly recent = new Map<string, Uint8Array>();

  constructor(
    private readonly store: BlockStore,
    /** Where to look for blocks the store lacks; every answer is verified like a stored block. */
    private readonly upstreams?: BlockSource,
  ) {}

  async get(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY) return cid.multihash.digest;
    const key = cid.toString();
    const cached = this.recent.get(key);
    if (cached) return cached;
    const algorithm = SUBTLE_HASH[cid.multihash.code];
    if (!algorithm) {
      throw new ApiError(
        "unsupported_cid",
        `Cannot verify multihash 0x${cid.multihash.code.toString(16)}.`,
      );
    }
    const matches = async (bytes: Uint8Array) =>
      equal(
        new Uint8Array(await crypto.subtle.digest(algorithm, arrayBufferView(bytes))),
        cid.multihash.digest,
      );
    const stored = await this.store.get(cid);
    const bytes = stored ?? (await this.upstreams?.get(cid, matches)) ?? null;
    if (!bytes) throw new BlockNotFound(cid);
    if (stored && !(await matches(stored))) {
      console.error(`block ${cid} failed verification: stored bytes hash differently`);
      throw new ApiError("block_corrupt", `Stored block ${cid} does not match its CID.`);
    }
    if (bytes.length <= SMALL_BLOCK) this.remember(key, bytes);
    return bytes;
  }

  private remember(key: string, bytes: Uint8Array) {
    this.recent.set(key, bytes);
    if (this.recent.size > RECENT_BLOCKS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }
}

/** Directory and file-root nodes are small; 1 MiB leaves are never kept. */
const SMALL_BLOCK = 256 * 1024;
const RECENT_BLOCKS = 16;

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * The same bytes typed as backed by an ArrayBuffer (what Web APIs accept), without copying when
 * they already are; R2 reads always are.
 */
export function arrayBufferView(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : bytes.slice();
}
