// The outboard: every node CV of a file's tree, so a storage node can prove any chunk range
// without rereading (or even keeping nearby) the whole file. Layout in docs/proofs.md.
import { rootBytes } from "./hasher.ts";
import { CHUNK_LEN, getKernel, IV_KEY } from "./kernel.ts";
import { type CvSink, chunkCount, nodeOutput, slotCount, slotOf } from "./tree.ts";

/**
 * Hashes `data` once and returns its outboard: (2 * chunks - 1) slots of 32 bytes in in-order
 * (chunk i at slot 2i, the parent splitting before chunk s at slot 2s - 1), with the root slot
 * holding the file's BLAKE3 hash itself, followed by a copy of the last chunk (0 to 1024 bytes),
 * which every proof carries to authenticate the file's length. About 1/16 of the file's size.
 */
export function outboard(data: Uint8Array): Uint8Array {
  getKernel().useKey(IV_KEY);
  const chunks = chunkCount(data.length);
  const slots = slotCount(chunks) * 32;
  const out = new Uint8Array(slots + data.length - (chunks - 1) * CHUNK_LEN);
  out.set(data.subarray((chunks - 1) * CHUNK_LEN), slots);
  const sink: CvSink = {
    node: (span, cv) => out.set(cv, slotOf(span) * 32),
    subtree: (span, inOrder) => out.set(inOrder, 2 * span.start * 32),
  };
  const root = { start: 0, count: chunks };
  nodeOutput({ bytes: data, firstChunk: 0, totalLength: data.length, flags: 0 }, root, sink);
  out.set(rootBytes(32), slotOf(root) * 32);
  return out;
}
