import type { CID } from "multiformats/cid";
import { ApiError } from "../http/problem.ts";
import { decodeNode, type UnixFSNode } from "./unixfs.ts";
import type { Block, VerifiedBlocks } from "./verified-blocks.ts";

/** One named entry of a UnixFS directory. */
export interface DirEntry {
  name: string;
  cid: CID;
  /** Cumulative DAG size from the link (`Tsize`), when the writer recorded it. */
  tsize: number | undefined;
}

/** The end of a content path and what it took to get there. */
export interface Resolved {
  node: UnixFSNode;
  /** Blocks that prove each path step, root first, the terminal block excluded (for CARs). */
  pathBlocks: Block[];
  /** The CID of each logical root: the requested CID, then one per segment (`X-Ipfs-Roots`). */
  roots: CID[];
}

/**
 * Walks `segments` from `root` through UnixFS directories (Path Gateway spec, "Traversing through
 * UnixFS"), verifying each block on the way. A missing name, or a name under a file, is
 * `path_not_found`; a block the store lacks is `content_not_found`.
 */
export async function resolvePath(
  blocks: VerifiedBlocks,
  root: CID,
  segments: readonly string[],
): Promise<Resolved> {
  let node = decodeNode(root, await blocks.get(root));
  const pathBlocks: Block[] = [];
  const roots: CID[] = [root];
  for (const [i, segment] of segments.entries()) {
    let found: { cid: CID; chain: Block[] } | undefined;
    if (node.kind === "directory") {
      const link = node.pb.Links.find((l) => l.Name === segment);
      if (link) found = { cid: link.Hash, chain: [{ cid: node.cid, bytes: node.bytes }] };
    } else if (node.kind === "hamt") {
      for await (const entry of hamtEntries(blocks, node)) {
        if (entry.name === segment) {
          found = { cid: entry.cid, chain: entry.chain };
          break;
        }
      }
    }
    if (!found) {
      const at = `/${segments.slice(0, i + 1).join("/")}`;
      throw new ApiError("path_not_found", `${at} does not exist under ${root}.`);
    }
    pathBlocks.push(...found.chain);
    node = decodeNode(found.cid, await blocks.get(found.cid));
    roots.push(found.cid);
  }
  return { node, pathBlocks, roots };
}

/** Entries of a plain or HAMT-sharded directory, in link order. */
export async function listDirectory(blocks: VerifiedBlocks, node: UnixFSNode): Promise<DirEntry[]> {
  if (node.kind === "directory") {
    return node.pb.Links.map((l) => ({ name: l.Name ?? "", cid: l.Hash, tsize: l.Tsize }));
  }
  const entries: DirEntry[] = [];
  if (node.kind === "hamt") {
    for await (const { name, cid, tsize } of hamtEntries(blocks, node))
      entries.push({ name, cid, tsize });
  }
  return entries;
}

/**
 * Every entry of a HAMT-sharded directory (UnixFS spec, "HAMTDirectory"), with the chain of shard
 * blocks from `shard` down to the one holding the entry. A link whose name is only the bucket's
 * hex index is a child shard; longer names are the index followed by the entry's name.
 *
 * Lookup walks shards in order instead of hashing the name (murmur3-x64-64) to pick the bucket:
 * simpler and exact, at the cost of reading every shard before a late name. Fine for the
 * directories this gateway stores; hash-directed lookup is a later optimisation.
 */
export async function* hamtEntries(
  blocks: VerifiedBlocks,
  shard: Extract<UnixFSNode, { kind: "hamt" }>,
  above: Block[] = [],
): AsyncGenerator<DirEntry & { chain: Block[] }> {
  const chain = [...above, { cid: shard.cid, bytes: shard.bytes }];
  const prefix = (shard.fanout - 1).toString(16).length;
  for (const link of shard.pb.Links) {
    const name = link.Name ?? "";
    if (name.length > prefix) {
      yield { name: name.slice(prefix), cid: link.Hash, tsize: link.Tsize, chain };
    } else {
      const child = decodeNode(link.Hash, await blocks.get(link.Hash));
      if (child.kind !== "hamt") {
        throw new ApiError(
          "malformed_dag",
          `HAMT shard ${shard.cid} links to a non-shard ${link.Hash}.`,
        );
      }
      yield* hamtEntries(blocks, child, chain);
    }
  }
}
