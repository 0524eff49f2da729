import { decode as decodePb, type PBNode } from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import type { CID } from "multiformats/cid";
import { ApiError } from "../http/problem.ts";
import { DAG_PB, RAW } from "./cid.ts";

/**
 * What a block is, as far as UnixFS (https://specs.ipfs.tech/unixfs/) is concerned. A `raw` block
 * is a whole file by itself (raw leaves); a `dag-pb` block carries a UnixFS `Data` message saying
 * whether it is a file (root or inner node), a plain directory or a HAMT-sharded directory shard.
 */
export type UnixFSNode =
  | { kind: "raw"; cid: CID; bytes: Uint8Array; size: number }
  | {
      kind: "file";
      cid: CID;
      bytes: Uint8Array;
      pb: PBNode;
      data: Uint8Array;
      blockSizes: number[];
      size: number;
    }
  | { kind: "directory"; cid: CID; bytes: Uint8Array; pb: PBNode }
  | { kind: "hamt"; cid: CID; bytes: Uint8Array; pb: PBNode; fanout: number }
  | { kind: "other"; cid: CID; bytes: Uint8Array };

export function decodeNode(cid: CID, bytes: Uint8Array): UnixFSNode {
  if (cid.code === RAW) return { kind: "raw", cid, bytes, size: bytes.length };
  if (cid.code !== DAG_PB) return { kind: "other", cid, bytes };
  let pb: PBNode;
  let fs: UnixFS;
  try {
    pb = decodePb(bytes);
    if (!pb.Data) throw new Error("no UnixFS Data");
    fs = UnixFS.unmarshal(pb.Data);
  } catch {
    throw new ApiError("malformed_dag", `Block ${cid} is not a UnixFS dag-pb node.`);
  }
  switch (fs.type) {
    case "file":
    case "raw": {
      const blockSizes = fs.blockSizes.map(Number);
      if (blockSizes.length !== pb.Links.length) {
        throw new ApiError(
          "malformed_dag",
          `File node ${cid} has ${pb.Links.length} links but ${blockSizes.length} block sizes.`,
        );
      }
      const data = fs.data ?? new Uint8Array(0);
      const size = data.length + blockSizes.reduce((a, b) => a + b, 0);
      return { kind: "file", cid, bytes, pb, data, blockSizes, size };
    }
    case "directory":
      return { kind: "directory", cid, bytes, pb };
    case "hamt-sharded-directory":
      return { kind: "hamt", cid, bytes, pb, fanout: Number(fs.fanout ?? 256n) };
    default:
      // Symlinks and metadata nodes are not served (yet): say so instead of guessing.
      throw new ApiError(
        "unsupported_cid",
        `UnixFS ${fs.type} nodes are not served by this gateway.`,
      );
  }
}

/** Size in bytes of a file node (raw or dag-pb file); undefined for anything else. */
export function fileSize(node: UnixFSNode): number | undefined {
  return node.kind === "raw" || node.kind === "file" ? node.size : undefined;
}
