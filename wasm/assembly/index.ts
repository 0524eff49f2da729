// BLAKE3 primitives over linear memory, driven by wasm/kernel.ts. The module keeps no hashing
// state between calls except one pending "output node" (a chunk's or parent's last compression,
// held back until the caller knows whether it is the root), so any number of JavaScript hashers
// can share one instance.
import { compress, hash4 } from "./kernels";

const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const PARENT: u32 = 4;
const ROOT: u32 = 8;

/** Largest subtree hashed in one call, in 1 KiB chunks; the input window holds exactly that. */
const MAX_CHUNKS: i32 = 1024;

const KEY = memory.data(32, 16);
const INPUT = memory.data(MAX_CHUNKS << 10, 16);
const SCRATCH = memory.data(MAX_CHUNKS * 32, 16);
const TREE = memory.data((2 * MAX_CHUNKS - 1) * 32, 16);
const IO = memory.data(128, 16);
const OUT_CV = memory.data(32, 16);
const OUT_BLOCK = memory.data(64, 16);
let outLen: u32 = 0;
let outCounter: u64 = 0;
let outFlags: u32 = 0;

/** Where the caller writes the 32-byte key words (IV for plain hashing). */
export function keyPtr(): usize {
  return KEY;
}

/** Where the caller places input bytes: up to `maxChunks() * 1024` of them. */
export function inputPtr(): usize {
  return INPUT;
}

/** Small exchange area: CVs in and out, 64-byte output blocks. */
export function ioPtr(): usize {
  return IO;
}

/** In-order node CVs of the last subtree hashed with `tree` set (see docs/proofs.md). */
export function treePtr(): usize {
  return TREE;
}

export function maxChunks(): i32 {
  return MAX_CHUNKS;
}

/**
 * Hashes all but the last block of one chunk (0 to 1024 bytes at `input`) and keeps the last
 * block as the pending output node, because only the caller knows whether it is the root.
 */
export function chunkOutput(input: usize, len: i32, counterF: f64, flags: u32): void {
  const counter = <u64>counterF;
  memory.copy(OUT_CV, KEY, 32);
  let startFlag = CHUNK_START;
  let pos: i32 = 0;
  while (len - pos > 64) {
    compress(OUT_CV, input + pos, 64, counter, flags | startFlag, OUT_CV, false);
    startFlag = 0;
    pos += 64;
  }
  const last = len - pos;
  memory.fill(OUT_BLOCK, 0, 64);
  memory.copy(OUT_BLOCK, input + pos, last);
  outLen = <u32>last;
  outCounter = counter;
  outFlags = flags | startFlag | CHUNK_END;
}

/** Makes the parent of the two CVs at `left` and `right` the pending output node. */
export function parentOutput(left: usize, right: usize, flags: u32): void {
  memory.copy(OUT_CV, KEY, 32);
  memory.copy(OUT_BLOCK, left, 32);
  memory.copy(OUT_BLOCK + 32, right, 32);
  outLen = 64;
  outCounter = 0;
  outFlags = flags | PARENT;
}

/** Finishes the pending output node as an inner node: its 32-byte CV goes to `out`. */
export function outputCv(out: usize): void {
  compress(OUT_CV, OUT_BLOCK, outLen, outCounter, outFlags, out, false);
}

/** Finishes the pending output node as the root: 64 bytes of extended output block `block`. */
export function outputRoot(block: f64, out: usize): void {
  compress(OUT_CV, OUT_BLOCK, outLen, <u64>block, outFlags | ROOT, out, true);
}

/**
 * CV of a complete subtree of `n` full chunks (n a power of two up to MAX_CHUNKS) at `input`,
 * starting at chunk `counter`; written to `out`. Chunks go through the 4-lane kernel, and so do
 * parent levels while they have at least 4 nodes. With `tree`, every node's CV is also stored
 * in-order at TREE so an outboard can be written without hashing twice.
 */
export function hashSubtree(
  input: usize,
  n: i32,
  counterF: f64,
  flags: u32,
  out: usize,
  tree: bool,
): void {
  const counter = <u64>counterF;
  if (n >= 4) {
    for (let g = 0; g < n; g += 4) {
      const cvs = SCRATCH + ((<usize>g) << 5);
      hash4(
        input + ((<usize>g) << 10),
        1024,
        16,
        KEY,
        counter + g,
        1,
        flags,
        CHUNK_START,
        CHUNK_END,
        cvs,
      );
    }
  } else {
    for (let j = 0; j < n; j++) {
      chunkOutput(input + ((<usize>j) << 10), 1024, <f64>(counter + j), flags);
      outputCv(SCRATCH + ((<usize>j) << 5));
    }
  }
  if (tree) {
    for (let j = 0; j < n; j++)
      memory.copy(TREE + ((<usize>j) << 6), SCRATCH + ((<usize>j) << 5), 32);
  }
  let m = n;
  let level = 0;
  while (m > 1) {
    const parents = m >> 1;
    if (parents >= 4) {
      for (let g = 0; g < parents; g += 4) {
        const src = SCRATCH + ((<usize>g) << 6);
        hash4(src, 64, 1, KEY, 0, 0, flags | PARENT, 0, 0, SCRATCH + ((<usize>g) << 5));
      }
    } else {
      for (let p = 0; p < parents; p++) {
        compress(
          KEY,
          SCRATCH + ((<usize>p) << 6),
          64,
          0,
          flags | PARENT,
          SCRATCH + ((<usize>p) << 5),
          false,
        );
      }
    }
    m = parents;
    level++;
    if (tree) {
      // Node j of this level splits its range at j * 2^level + 2^(level-1): in-order slot
      // 2 * split - 1.
      for (let j = 0; j < m; j++) {
        const slot = (j << (level + 1)) + (1 << level) - 1;
        memory.copy(TREE + ((<usize>slot) << 5), SCRATCH + ((<usize>j) << 5), 32);
      }
    }
  }
  memory.copy(out, SCRATCH, 32);
}

/** One parent CV from two child CVs, for merging subtrees on the caller's stack. */
export function parentCv(left: usize, right: usize, flags: u32, out: usize): void {
  parentOutput(left, right, flags);
  outputCv(out);
}
