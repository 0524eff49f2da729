// The instantiated module plus the few memory moves every caller needs. There is one instance per
// JavaScript realm; all hashers share it and reload the key area before each use.
import { instantiate, type WasmSource } from "./load.ts";

interface Exports {
  memory: WebAssembly.Memory;
  keyPtr(): number;
  inputPtr(): number;
  ioPtr(): number;
  treePtr(): number;
  maxChunks(): number;
  chunkOutput(input: number, len: number, counter: number, flags: number): void;
  parentOutput(left: number, right: number, flags: number): void;
  outputCv(out: number): void;
  outputRoot(block: number, out: number): void;
  hashSubtree(
    input: number,
    n: number,
    counter: number,
    flags: number,
    out: number,
    tree: number,
  ): void;
  parentCv(left: number, right: number, flags: number, out: number): void;
}

export const CHUNK_LEN = 1024;
export const KEYED_HASH = 16;
export const DERIVE_KEY_CONTEXT = 32;
export const DERIVE_KEY_MATERIAL = 64;

/** BLAKE3's IV as the 32-byte little-endian key used by plain hashing. */
export const IV_KEY = new Uint8Array(
  new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]).buffer,
);

export interface Kernel {
  readonly fn: Exports;
  readonly mem: Uint8Array;
  readonly input: number;
  readonly io: number;
  readonly tree: number;
  /** Largest power-of-two subtree, in chunks, that `hashSubtree` takes in one call. */
  readonly maxChunks: number;
  /** Makes `key` (32 bytes) the key of the following calls; cheap when it already is. */
  useKey(key: Uint8Array): void;
}

let kernel: Kernel | undefined;
let loading: Promise<void> | undefined;

function wrap(instance: WebAssembly.Instance): Kernel {
  const fn = instance.exports as unknown as Exports;
  // The module never grows its memory (all buffers are static), so this view stays valid.
  const mem = new Uint8Array(fn.memory.buffer);
  const keyAt = fn.keyPtr();
  let current: Uint8Array | undefined;
  return {
    fn,
    mem,
    input: fn.inputPtr(),
    io: fn.ioPtr(),
    tree: fn.treePtr(),
    maxChunks: fn.maxChunks(),
    useKey(key) {
      if (key !== current) {
        mem.set(key, keyAt);
        current = key;
      }
    },
  };
}

/**
 * Loads the module once; concurrent and repeated calls share the same promise so callers can
 * `await init()` defensively at every entry point. `source` overrides where the module comes
 * from (a precompiled module, bytes or a fetch Response); only the first call's is used.
 */
export function init(source?: WasmSource): Promise<void> {
  loading ??= instantiate(source).then(
    (instance) => {
      kernel = wrap(instance);
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

/** The loaded kernel; throws a clear error instead of a TypeError when `init` was skipped. */
export function getKernel(): Kernel {
  if (kernel === undefined) throw new Error("tessera/wasm: call and await init() first");
  return kernel;
}
