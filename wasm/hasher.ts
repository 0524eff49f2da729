// Incremental BLAKE3 over the kernel. Whole power-of-two subtrees of up to `maxChunks` chunks go
// to the wasm side in one call (8 chunks per SIMD kernel pass); this class only keeps the CV
// stack of finished subtrees and the input that cannot be hashed yet.
import { CHUNK_LEN, getKernel } from "./kernel.ts";

/** A BLAKE3 hash in progress; memory use is constant whatever the input length. */
export interface Hasher {
  update(chunk: Uint8Array): void;
  digest(outLength?: number): Uint8Array;
}

/**
 * Subtrees are committed 8 chunks at a time or more, so the chunk count stays a multiple of 8
 * and every later subtree is aligned for the 8-lane kernel, however the input is split.
 */
const MIN_COMMIT = 8;
const HOLD = MIN_COMMIT * CHUNK_LEN;

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

/** CVs of finished subtrees, largest first; their sizes are the set bits of `chunks`. */
class CvStack {
  readonly cvs: Uint8Array[];
  chunks: number;

  constructor(cvs: Uint8Array[] = [], chunks = 0) {
    this.cvs = cvs;
    this.chunks = chunks;
  }

  clone(): CvStack {
    return new CvStack([...this.cvs], this.chunks);
  }

  /**
   * Hashes the `n` chunks staged at the kernel's input as one subtree and pushes its CV. Merging
   * eagerly is safe because callers only commit when input follows, so no merge is the root.
   */
  commit(n: number, flags: number): void {
    const k = getKernel();
    k.fn.hashSubtree(k.input, n, this.chunks, flags, k.io, 0);
    this.cvs.push(k.mem.slice(k.io, k.io + 32));
    this.chunks += n;
    while (this.cvs.length > popcount(this.chunks)) {
      const right = this.cvs.pop() as Uint8Array;
      const left = this.cvs.pop() as Uint8Array;
      k.mem.set(left, k.io);
      k.mem.set(right, k.io + 32);
      k.fn.parentCv(k.io, k.io + 32, flags, k.io);
      this.cvs.push(k.mem.slice(k.io, k.io + 32));
    }
  }

  /** Largest aligned power-of-two subtree of at most `available` chunks. */
  nextSize(available: number, max: number): number {
    let n = max;
    while (n > available || this.chunks % n !== 0) n /= 2;
    return n;
  }
}

export class Blake3Hasher implements Hasher {
  readonly #key: Uint8Array;
  readonly #flags: number;
  readonly #stack = new CvStack();
  /** Input not yet hashed: at most HOLD bytes, never empty once any chunk is committed. */
  readonly #held = new Uint8Array(HOLD);
  #heldLen = 0;

  /** `key` must not be mutated afterwards: the kernel caches it by identity. */
  constructor(key: Uint8Array, flags: number) {
    this.#key = key;
    this.#flags = flags;
  }

  /**
   * Hashes as much as possible of the held bytes followed by `data`, always keeping at least one
   * byte back: the last chunk may turn out to be the root, which takes a different flag.
   */
  update(data: Uint8Array): void {
    const k = getKernel();
    k.useKey(this.#key);
    const held = this.#heldLen;
    const total = held + data.length;
    let pos = 0; // offset into held ++ data
    for (;;) {
      const full = Math.floor((total - pos - 1) / CHUNK_LEN);
      if (full < MIN_COMMIT) break;
      const n = this.#stack.nextSize(full, k.maxChunks);
      const bytes = n * CHUNK_LEN;
      if (pos < held) {
        // Only the first subtree can start in the held bytes (held <= HOLD <= bytes).
        k.mem.set(this.#held.subarray(0, held), k.input);
        k.mem.set(data.subarray(0, bytes - held), k.input + held);
      } else {
        k.mem.set(data.subarray(pos - held, pos - held + bytes), k.input);
      }
      this.#stack.commit(n, this.#flags);
      pos += bytes;
    }
    if (pos === 0) {
      this.#held.set(data, held);
    } else {
      this.#held.set(data.subarray(pos - held));
    }
    this.#heldLen = total - pos;
  }

  /** Finishes a copy of the state, so the hasher can keep going or digest again. */
  digest(outLength = 32): Uint8Array {
    const k = getKernel();
    k.useKey(this.#key);
    const stack = this.#stack.clone();
    const fullHeld = Math.max(0, Math.ceil(this.#heldLen / CHUNK_LEN) - 1);
    let at = 0;
    while (stack.chunks - this.#stack.chunks < fullHeld) {
      const n = stack.nextSize(fullHeld - at / CHUNK_LEN, MIN_COMMIT);
      k.mem.set(this.#held.subarray(at, at + n * CHUNK_LEN), k.input);
      stack.commit(n, this.#flags);
      at += n * CHUNK_LEN;
    }
    k.mem.set(this.#held.subarray(at, this.#heldLen), k.input);
    k.fn.chunkOutput(k.input, this.#heldLen - at, stack.chunks, this.#flags);
    for (let i = stack.cvs.length - 1; i >= 0; i--) {
      k.fn.outputCv(k.io + 32);
      k.mem.set(stack.cvs[i] as Uint8Array, k.io);
      k.fn.parentOutput(k.io, k.io + 32, this.#flags);
    }
    return rootBytes(outLength);
  }
}
