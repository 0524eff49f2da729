// Merkle proofs for chunk ranges, checked against a file's ordinary BLAKE3 hash. A proof is a
// version byte, the CVs of the maximal subtrees outside the range in the order a depth-first,
// left-to-right walk from the root meets them, and (unless the range already ends the file) the
// file's last chunk, which authenticates the total length. Layout in docs/proofs.md.
import { rootBytes } from "./hasher.ts";
import { CHUNK_LEN, getKernel, IV_KEY } from "./kernel.ts";
import {
  chunkCount,
  leftCount,
  nodeCv,
  nodeOutput,
  parentOutputOf,
  pendingCv,
  type Source,
  type Span,
  slotCount,
  slotOf,
} from "./tree.ts";

export const PROOF_VERSION = 1;

/** Chunk intervals whose nodes a proof's verifier recomputes from bytes. */
interface Targets {
  /** The proven range [first, end). */
  first: number;
  end: number;
  /** The file's last chunk when outside the range (carried so the length is authenticated). */
  last: number | undefined;
}

const inside = (s: Span, first: number, end: number) =>
  first <= s.start && s.start + s.count <= end;
const overlaps = (s: Span, first: number, end: number) =>
  s.start < end && first < s.start + s.count;

function covered(t: Targets, s: Span): boolean {
  return inside(s, t.first, t.end) || (t.last !== undefined && inside(s, t.last, t.last + 1));
}

function outside(t: Targets, s: Span): boolean {
  return !overlaps(s, t.first, t.end) && (t.last === undefined || !overlaps(s, t.last, t.last + 1));
}

function children(span: Span): [Span, Span] {
  const left = leftCount(span.count);
  return [
    { start: span.start, count: left },
    { start: span.start + left, count: span.count - left },
  ];
}

/** Calls `visit` for each sibling subtree a proof carries, in proof order. */
function walkSiblings(span: Span, targets: Targets, visit: (sibling: Span) => void): void {
  if (covered(targets, span)) return;
  for (const child of children(span)) {
    if (outside(targets, child)) visit(child);
    else walkSiblings(child, targets, visit);
  }
}

function targetsOf(totalLength: number, first: number, end: number): Targets {
  const lastChunk = chunkCount(totalLength) - 1;
  return { first, end, last: end > lastChunk ? undefined : lastChunk };
}

/** Bytes of the file's last chunk. */
function lastChunkLength(totalLength: number): number {
  return totalLength - (chunkCount(totalLength) - 1) * CHUNK_LEN;
}

function checkedTargets(totalLength: number, firstChunk: number, count: number): Targets {
  if (!Number.isSafeInteger(totalLength) || totalLength < 0) {
    throw new RangeError(`totalLength must be a non-negative integer, got ${totalLength}`);
  }
  const chunks = chunkCount(totalLength);
  const ok =
    Number.isSafeInteger(firstChunk) &&
    Number.isSafeInteger(count) &&
    firstChunk >= 0 &&
    count >= 1 &&
    firstChunk + count <= chunks;
  if (!ok) {
    throw new RangeError(`chunks [${firstChunk}, +${count}) outside a file of ${chunks} chunks`);
  }
  return targetsOf(totalLength, firstChunk, firstChunk + count);
}

function assemble(cvs: Uint8Array[], tail: Uint8Array): Uint8Array {
  const proof = new Uint8Array(1 + 32 * cvs.length + tail.length);
  proof[0] = PROOF_VERSION;
  cvs.forEach((cv, i) => {
    proof.set(cv, 1 + 32 * i);
  });
  proof.set(tail, 1 + 32 * cvs.length);
  return proof;
}

/**
 * Proves that chunks [firstChunk, firstChunk + chunkCount) belong to `data`, whose BLAKE3 hash
 * is the root. Hashes the rest of the file; a storage node with an outboard should use
 * `proveFromOutboard`, which hashes nothing.
 */
export function prove(data: Uint8Array, firstChunk: number, chunkCount = 1): Uint8Array {
  const targets = checkedTargets(data.length, firstChunk, chunkCount);
  getKernel().useKey(IV_KEY);
  const src: Source = { bytes: data, firstChunk: 0, totalLength: data.length, flags: 0 };
  const cvs: Uint8Array[] = [];
  walkSiblings(rootSpan(data.length), targets, (s) => cvs.push(nodeCv(src, s)));
  const tail =
    targets.last === undefined ? new Uint8Array(0) : data.subarray(targets.last * CHUNK_LEN);
  return assemble(cvs, tail);
}

/**
 * The same proof as `prove`, read from the file's outboard in O(log n) without hashing: what a
 * storage node answers a challenge with, sending the chunk bytes from disk alongside.
 */
export function proveFromOutboard(
  outboard: Uint8Array,
  totalLength: number,
  firstChunk: number,
  chunkCount = 1,
): Uint8Array {
  const targets = checkedTargets(totalLength, firstChunk, chunkCount);
  const root = rootSpan(totalLength);
  const slots = slotCount(root.count) * 32;
  if (outboard.length !== slots + lastChunkLength(totalLength)) {
    throw new RangeError(`outboard of ${outboard.length} bytes does not fit ${totalLength} bytes`);
  }
  const cvs: Uint8Array[] = [];
  walkSiblings(root, targets, (s) => {
    const at = slotOf(s) * 32;
    cvs.push(outboard.subarray(at, at + 32));
  });
  const tail = targets.last === undefined ? new Uint8Array(0) : outboard.subarray(slots);
  return assemble(cvs, tail);
}

function rootSpan(totalLength: number): Span {
  return { start: 0, count: chunkCount(totalLength) };
}

/**
 * Checks that `chunks` are the bytes of chunks [firstChunk, ...) of the `totalLength`-byte file
 * whose BLAKE3 hash is `root`. The range size follows from `chunks.length`, which must be whole
 * chunks except for the file's last one. Returns false, never throws, on any malformed input.
 */
export function verify(
  root: Uint8Array,
  totalLength: number,
  firstChunk: number,
  chunks: Uint8Array,
  proof: Uint8Array,
): boolean {
  if (root.length !== 32 || !Number.isSafeInteger(totalLength) || totalLength < 0) return false;
  const count = Math.max(1, Math.ceil(chunks.length / CHUNK_LEN));
  const top = rootSpan(totalLength);
  if (!Number.isSafeInteger(firstChunk) || firstChunk < 0 || firstChunk + count > top.count) {
    return false;
  }
  const expected = Math.min((firstChunk + count) * CHUNK_LEN, totalLength) - firstChunk * CHUNK_LEN;
  if (chunks.length !== expected) return false;
  const targets = targetsOf(totalLength, firstChunk, firstChunk + count);
  let siblings = 0;
  walkSiblings(top, targets, () => siblings++);
  const tailLength = targets.last === undefined ? 0 : lastChunkLength(totalLength);
  if (proof.length !== 1 + 32 * siblings + tailLength || proof[0] !== PROOF_VERSION) return false;

  getKernel().useKey(IV_KEY);
  const range: Source = { bytes: chunks, firstChunk, totalLength, flags: 0 };
  const tail: Source = {
    bytes: proof.subarray(1 + 32 * siblings),
    firstChunk: top.count - 1,
    totalLength,
    flags: 0,
  };
  const sourceOf = (span: Span) => (inside(span, targets.first, targets.end) ? range : tail);
  let next = 1;
  const take = () => {
    next += 32;
    return proof.subarray(next - 32, next);
  };
  // Children in proof order: each either the next CV of the proof or recomputed below it.
  const childCvs = (span: Span) =>
    children(span).map((c) => (outside(targets, c) ? take() : cvOf(c)));
  const cvOf = (span: Span): Uint8Array => {
    if (covered(targets, span)) return nodeCv(sourceOf(span), span);
    const [left, right] = childCvs(span);
    parentOutputOf(left as Uint8Array, right as Uint8Array, 0);
    return pendingCv();
  };
  if (covered(targets, top)) {
    nodeOutput(sourceOf(top), top);
  } else {
    const [left, right] = childCvs(top);
    parentOutputOf(left as Uint8Array, right as Uint8Array, 0);
  }
  const computed = rootBytes(32);
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= (computed[i] as number) ^ (root[i] as number);
  return diff === 0;
}
