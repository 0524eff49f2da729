import type { CID } from "multiformats/cid";
import { ApiError } from "../http/problem.ts";
import { decodeNode, type UnixFSNode } from "./unixfs.ts";
import type { Block, VerifiedBlocks } from "./verified-blocks.ts";

/**
 * Walks a UnixFS file DAG depth-first, visiting only the nodes that overlap the byte range
 * `[start, end)`: each dag-pb node's `blocksizes` say how many file bytes each child holds, so a
 * Range request or `entity-bytes` on a 1 GiB file reads only the leaves it needs (Path Gateway
 * spec, "Range": "require only the minimal DAG subset"). One block is in hand at a time.
 *
 * Yields, in DFS order, each visited block and the slice of file bytes it contributes (a node's
 * own `Data` comes before its children, as UnixFS lays files out).
 */
export async function* walkFile(
  blocks: VerifiedBlocks,
  node: UnixFSNode,
  start: number,
  end: number,
  offset = 0,
): AsyncGenerator<{ block: Block; bytes: Uint8Array }> {
  if (node.kind === "raw") {
    yield {
      block: node,
      bytes: node.bytes.subarray(Math.max(0, start - offset), Math.max(0, end - offset)),
    };
    return;
  }
  if (node.kind !== "file") {
    throw new ApiError("malformed_dag", `${node.cid} inside a file is not a file node.`);
  }
  const own = node.data.subarray(Math.max(0, start - offset), Math.max(0, end - offset));
  yield { block: node, bytes: own };
  let childStart = offset + node.data.length;
  for (const [i, link] of node.pb.Links.entries()) {
    const size = node.blockSizes[i] ?? 0;
    const childEnd = childStart + size;
    if (childStart >= end) break;
    if (childEnd > start) {
      const child = decodeNode(link.Hash, await blocks.get(link.Hash));
      assertSize(child, size, link.Hash);
      yield* walkFile(blocks, child, start, end, childStart);
    }
    childStart = childEnd;
  }
}

/** A child whose real size differs from its parent's `blocksizes` would shift every byte after it. */
function assertSize(child: UnixFSNode, expected: number, cid: CID) {
  const actual = child.kind === "raw" || child.kind === "file" ? child.size : undefined;
  if (actual !== expected) {
    throw new ApiError(
      "malformed_dag",
      `Block ${cid} holds ${actual} file bytes, its parent says ${expected}.`,
    );
  }
}

/** The file bytes of `[start, end)`, one verified block at a time. */
export async function* fileBytes(
  blocks: VerifiedBlocks,
  node: UnixFSNode,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  for await (const { bytes } of walkFile(blocks, node, start, end)) {
    if (bytes.length > 0) yield bytes;
  }
}
