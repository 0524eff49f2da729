// Incremental BLAKE3 over the kernel. Whole power-of-two subtrees of up to `maxChunks` chunks go
// to the wasm side in one call (4 chunks per SIMD lane group); this class only keeps the CV
// stack of finished subtrees and the last, still unfinished chunk.
import { CHUNK_LEN, getKernel } from "./kernel.ts";

/** A BLAKE3 hash in progress; memory use is constant whatever the input length. */
export interface Hasher {
  update(chunk: Uint8Array): void;
  digest(outLength?: number): Uint8Array;
}

function popcount(x: number): number {
  let count = 0;
  for (let v = x; v > 0; v = Math.floor(v / 2)) count += v % 2;
  return count;
}

/**
 * Writes `outLength` bytes of extended output of the kernel's pending output node, finished as
 * the root. Shared by the hasher and the tree code.
 */
export function rootBytes(outLength: number): Uint8Array {
  if (!Number.isSafeInteger(outLength) || outLength < 0) {
    throw new RangeError(`outLength must be a non-negative integer, got ${outLength}`);
  }
  const k = getKernel();
  const out = new Uint8Array(outLength);
  for (let block = 0, pos = 0; pos < outLength; block++, pos += 64) {
    k.fn.outputRoot(block, k.io);
    out.set(k.mem.subarray(k.io, k.io + Math.min(64, outLength - pos)), pos);
  }
  return out;
}

export class Blake3Hasher implements Hasher {
  readonly #key: Uint8Array;
  readonly #flags: number;
  /** CVs of finished subtrees, largest first; their sizes are the set bits of #chunks. */
  readonly #stack: Uint8Array[] = [];
  #chunks = 0;
  readonly #pending = new Uint8Array(CHUNK_LEN);
  #pendingLen = 0;

  /** `key` must not be mutated afterwards: the kernel caches it by identity. */
  constructor(key: Uint8Array, flags: number) {
    this.#key = key;
    this.#flags = flags;
  }

  /**
   * Hashes everything but the last chunk seen so far, because that one may turn out to be the
   * root (it gets a different flag). A partial chunk is completed from `data` first.
   */
  update(data: Uint8Array): void {
    const k = getKernel();
    k.useKey(this.#key);
    let pos = 0;
    if (this.#pendingLen > 0) {
      const take = Math.min(CHUNK_LEN - this.#pendingLen, data.length);
      this.#pending.set(data.subarray(0, take), this.#pendingLen);
      this.#pendingLen += take;
      pos = take;
      if (pos === data.length) return;
      k.mem.set(this.#pending, k.input);
      this.#commit(1);
      this.#pendingLen = 0;
    }
    while (data.length - pos > CHUNK_LEN) {
      const full = Math.floor((data.length - pos - 1) / CHUNK_LEN);
      let n = k.maxChunks;
      while (n > full || this.#chunks % n !== 0) n /= 2;
      const bytes = n * CHUNK_LEN;
      k.mem.set(data.subarray(pos, pos + bytes), k.input);
      this.#commit(n);
      pos += bytes;
    }
    this.#pending.set(data.subarray(pos));
    this.#pendingLen = data.length - pos;
  }

  /** Hashes the `n` chunks staged at the kernel's input and pushes the subtree's CV. */
  #commit(n: number): void {
    const k = getKernel();
    k.fn.hashSubtree(k.input, n, this.#chunks, this.#flags, k.io, 0);
    this.#stack.push(k.mem.slice(k.io, k.io + 32));
    this.#chunks += n;
    // Merging eagerly is safe: at least one byte follows, so no merged node can be the root.
    while (this.#stack.length > popcount(this.#chunks)) {
      const right = this.#stack.pop() as Uint8Array;
      const left = this.#stack.pop() as Uint8Array;
      k.mem.set(left, k.io);
      k.mem.set(right, k.io + 32);
      k.fn.parentCv(k.io, k.io + 32, this.#flags, k.io);
      this.#stack.push(k.mem.slice(k.io, k.io + 32));
    }
  }

  /** Finishes a copy of the state, so the hasher can keep going or digest again. */
  digest(outLength = 32): Uint8Array {
    const k = getKernel();
    k.useKey(this.#key);
    k.mem.set(this.#pending.subarray(0, this.#pendingLen), k.input);
    k.fn.chunkOutput(k.input, this.#pendingLen, this.#chunks, this.#flags);
    for (let i = this.#stack.length - 1; i >= 0; i--) {
      k.fn.outputCv(k.io + 32);
      k.mem.set(this.#stack[i] as Uint8Array, k.io);
      k.fn.parentOutput(k.io, k.io + 32, this.#flags);
    }
    return rootBytes(outLength);
  }
}
