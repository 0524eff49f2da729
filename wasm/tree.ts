// Shape of BLAKE3's tree and CVs of its nodes computed from bytes in memory. The tree is
// left-balanced over 1 KiB chunks: a node over n > 1 chunks has a left child over the largest
// power of two strictly below n, so the total length alone fixes the whole shape.
import { CHUNK_LEN, getKernel } from "./kernel.ts";

/** A node: chunks [start, start + count). */
export interface Span {
  start: number;
  count: number;
}

/** Chunks in a file of `totalLength` bytes; the empty file still has one (empty) chunk. */
export function chunkCount(totalLength: number): number {
  return Math.max(1, Math.ceil(totalLength / CHUNK_LEN));
}

/** Chunks under the left child of a node over `count` > 1 chunks. */
export function leftCount(count: number): number {
  let left = 1;
  while (left * 2 < count) left *= 2;
  return left;
}

/**
 * Position of a node in the outboard (in-order numbering): chunk i is at 2i and a parent at
 * 2 * split - 1, where split is its first right-child chunk. Parents' positions do not depend
 * on the total length, so the layout is append-only as a file grows.
 */
export function slotOf(span: Span): number {
  if (span.count === 1) return 2 * span.start;
  return 2 * (span.start + leftCount(span.count)) - 1;
}

/** Number of 32-byte slots in the outboard of a file with `chunks` chunks. */
export function slotCount(chunks: number): number {
  return 2 * chunks - 1;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * Bytes of a file held in memory from chunk `firstChunk` on: either the whole file or just the
 * chunks of a proof's range.
 */
export interface Source {
  bytes: Uint8Array;
  firstChunk: number;
  totalLength: number;
  flags: number;
}

/** Receives every non-root node's CV as it is computed, e.g. to fill an outboard. */
export interface CvSink {
  node(span: Span, cv: Uint8Array): void;
  /** A complete subtree's CVs in in-order: (2 * count - 1) * 32 bytes, slot 2 * start first. */
  subtree(span: Span, inOrder: Uint8Array): void;
}

/**
 * Leaves the kernel's pending output node set to `span`'s node (so the caller decides between
 * an inner CV and the root), hashing its subtrees on the way.
 */
export function nodeOutput(src: Source, span: Span, sink?: CvSink): void {
  const k = getKernel();
  if (span.count === 1) {
    const from = (span.start - src.firstChunk) * CHUNK_LEN;
    const to = Math.min(from + CHUNK_LEN, src.totalLength - src.firstChunk * CHUNK_LEN);
    k.mem.set(src.bytes.subarray(from, to), k.input);
    k.fn.chunkOutput(k.input, to - from, span.start, src.flags);
    return;
  }
  const left = leftCount(span.count);
  const leftCv = nodeCv(src, { start: span.start, count: left }, sink);
  const rightCv = nodeCv(src, { start: span.start + left, count: span.count - left }, sink);
  parentOutputOf(leftCv, rightCv, src.flags);
}

/** Makes the parent of two child CVs the kernel's pending output node. */
export function parentOutputOf(left: Uint8Array, right: Uint8Array, flags: number): void {
  const k = getKernel();
  k.mem.set(left, k.io);
  k.mem.set(right, k.io + 32);
  k.fn.parentOutput(k.io, k.io + 32, flags);
}

/** The pending output node's CV as an inner node. */
export function pendingCv(): Uint8Array {
  const k = getKernel();
  k.fn.outputCv(k.io);
  return k.mem.slice(k.io, k.io + 32);
}

/** CV of a non-root node, using one SIMD `hashSubtree` call for complete subtrees that fit. */
export function nodeCv(src: Source, span: Span, sink?: CvSink): Uint8Array {
  const k = getKernel();
  const end = (span.start + span.count) * CHUNK_LEN;
  if (span.count > 1 && span.count <= k.maxChunks && isPowerOfTwo(span.count)) {
    if (end <= src.totalLength) {
      const from = (span.start - src.firstChunk) * CHUNK_LEN;
      k.mem.set(src.bytes.subarray(from, from + span.count * CHUNK_LEN), k.input);
      k.fn.hashSubtree(k.input, span.count, span.start, src.flags, k.io, sink ? 1 : 0);
      sink?.subtree(span, k.mem.subarray(k.tree, k.tree + (2 * span.count - 1) * 32));
      return k.mem.slice(k.io, k.io + 32);
    }
  }
  nodeOutput(src, span, sink);
  const cv = pendingCv();
  sink?.node(span, cv);
  return cv;
}
