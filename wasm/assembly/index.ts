// BLAKE3 primitives over linear memory, driven by wasm/kernel.ts. The module keeps no hashing
// state between calls except one pending "output node" (a chunk's or parent's last compression,
// held back until the caller knows whether it is the root), so any number of JavaScript hashers
// can share one instance.
import { compress, hash4, hash8 } from "./kernels";

const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const PARENT: u32 = 4;
const ROOT: u32 = 8;

/** Largest subtree hashed in one call, in 1 KiB chunks; the input window holds exactly that. */
const MAX_CHUNKS: i32 = 256;

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

/** 32-byte copy in two vector moves: the scatter loops below run once per tree node, where
 * a bulk-memory call (a call into the engine) would cost more than the copy. */
function copy32(dst: usize, src: usize): void {
  v128.store(dst, v128.load(src));
  v128.store(dst, v128.load(src, 16), 16);
}

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
  copy32(OUT_CV, KEY);
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
  copy32(OUT_CV, KEY);
  copy32(OUT_BLOCK, left);
  copy32(OUT_BLOCK + 32, right);
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
 * starting at chunk `counter`; written to `out`. Chunks and parent levels go through the widest
 * SIMD kernel that fits (see hashMany). With `tree`, every node's CV is also stored
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
  hashMany(input, 1024, n, 16, counter, 1, flags, CHUNK_START, CHUNK_END, SCRATCH);
  if (tree) {
    for (let j = 0; j < n; j++) copy32(TREE + ((<usize>j) << 6), SCRATCH + ((<usize>j) << 5));
  }
  let m = n;
  let level = 0;
  while (m > 1) {
    const parents = m >> 1;
    hashMany(SCRATCH, 64, parents, 1, 0, 0, flags | PARENT, 0, 0, SCRATCH);
    m = parents;
    level++;
    if (tree) {
      // Node j of this level splits its range at j * 2^level + 2^(level-1): in-order slot
      // 2 * split - 1.
      for (let j = 0; j < m; j++) {
        const slot = (j << (level + 1)) + (1 << level) - 1;
        copy32(TREE + ((<usize>slot) << 5), SCRATCH + ((<usize>j) << 5));
      }
    }
  }
  copy32(out, SCRATCH);
}

/**
 * CVs of `count` inputs of `blocks` blocks each, `stride` bytes apart, written contiguously at
 * `out`: as many as possible through the 8-lane kernel, the rest through narrower ones. Eight
 * lanes (two interleaved groups of four) measured fastest: four leave the CPU waiting on
 * BLAKE3's serial G chains, twelve or sixteen drown in register spills.
 */
function hashMany(
  input: usize,
  stride: usize,
  count: i32,
  blocks: i32,
  counter: u64,
  step: u64,
  flags: u32,
  flagsStart: u32,
  flagsEnd: u32,
  out: usize,
): void {
  let i: i32 = 0;
  for (; i + 8 <= count; i += 8) {
    const at = input + <usize>i * stride;
    const c = counter + <u64>i * step;
    hash8(at, stride, blocks, KEY, c, step, flags, flagsStart, flagsEnd, out + ((<usize>i) << 5));
  }
  for (; i + 4 <= count; i += 4) {
    const at = input + <usize>i * stride;
    const c = counter + <u64>i * step;
    hash4(at, stride, blocks, KEY, c, step, flags, flagsStart, flagsEnd, out + ((<usize>i) << 5));
  }
  for (; i < count; i++) {
    const at = input + <usize>i * stride;
    const c = counter + <u64>i * step;
    copy32(OUT_CV, KEY);
    for (let b = 0; b < blocks; b++) {
      let blockFlags = flags;
      if (b === 0) blockFlags |= flagsStart;
      if (b === blocks - 1) blockFlags |= flagsEnd;
      compress(OUT_CV, at + ((<usize>b) << 6), 64, c, blockFlags, OUT_CV, false);
    }
    copy32(out + ((<usize>i) << 5), OUT_CV);
  }
}

/** One parent CV from two child CVs, for merging subtrees on the caller's stack. */
export function parentCv(left: usize, right: usize, flags: u32, out: usize): void {
  parentOutput(left, right, flags);
  outputCv(out);
}
