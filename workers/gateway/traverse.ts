import { walkFile } from "./file.ts";
import { hamtEntries } from "./resolve.ts";
import { decodeNode, type UnixFSNode } from "./unixfs.ts";
import type { Block, VerifiedBlocks } from "./verified-blocks.ts";

/** `dag-scope` (Trustless Gateway spec, "dag-scope (request query parameter)"). */
export type DagScope = "block" | "entity" | "all";

/** A resolved byte range `[start, end)` of the terminal entity, from `entity-bytes`. */
export interface ByteSpan {
  start: number;
  end: number;
}

/**
 * The blocks of the DAG under `node` that a CAR response carries, depth-first, for a scope:
 * - `block`: the node's own block only;
 * - `entity`: a file's whole DAG (or only what `span` needs: `entity-bytes`), a directory's own
 *   block plus its HAMT shards, but not the entries' contents;
 * - `all`: everything reachable.
 * Nodes that are neither UnixFS nor raw count as one block: this gateway does not walk links of
 * other codecs (dag-cbor, dag-json), so for them every scope is `block`.
 */
export async function* scopeBlocks(
  blocks: VerifiedBlocks,
  node: UnixFSNode,
  scope: DagScope,
  span?: ByteSpan,
): AsyncGenerator<Block> {
  if (scope === "block") {
    yield node;
    return;
  }
  switch (node.kind) {
    case "raw":
    case "file": {
      const { start, end } = span ?? { start: 0, end: node.size };
      for await (const { block } of walkFile(blocks, node, start, end)) yield block;
      return;
    }
    case "directory": {
      yield node;
      if (scope === "all") {
        for (const link of node.pb.Links)
          yield* scopeBlocks(blocks, await load(blocks, link.Hash), "all");
      }
      return;
    }
    case "hamt": {
      yield* shardBlocks(blocks, node, scope);
      return;
    }
    case "other":
      yield node;
  }
}

/** A HAMT's shard blocks in DFS order; with `all`, each entry's DAG right after its link. */
async function* shardBlocks(
  blocks: VerifiedBlocks,
  shard: Extract<UnixFSNode, { kind: "hamt" }>,
  scope: DagScope,
): AsyncGenerator<Block> {
  const emitted = new Set<string>();
  for await (const { cid, chain } of hamtEntries(blocks, shard)) {
    // Each shard appears once, when the first entry below it is reached.
    for (const b of chain) {
      const key = b.cid.toString();
      if (!emitted.has(key)) {
        emitted.add(key);
        yield b;
      }
    }
    if (scope === "all") yield* scopeBlocks(blocks, await load(blocks, cid), "all");
  }
  if (emitted.size === 0) yield shard; // an empty shard still proves itself
}

async function load(blocks: VerifiedBlocks, cid: Block["cid"]): Promise<UnixFSNode> {
  return decodeNode(cid, await blocks.get(cid));
}
