import { createHash } from "node:crypto";
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import type { Disk, Segment } from "./disk.ts";

const RAW = 0x55;
const DAG_PB = 0x70;
const SHA2_256 = 0x12;
const IDENTITY = 0x00;
const MAX_BLOCK_BYTES = 2 * 1024 * 1024;

/**
 * Fetches a DAG block by block from a trustless gateway (`GET /ipfs/{cid}?format=raw`, Trustless
 * Gateway spec), re-hashing every block against its CID before it touches the disk, and walks it
 * depth-first, links in order. Blocks already on disk (from another pin) are read, not fetched.
 *
 * Returns the DAG's blocks and its proof stream's segments: for a UnixFS file (or a raw block),
 * the file's bytes in order (each leaf's data, an inner node's own data before its children);
 * for anything else (a directory), every block's bytes in walk order.
 */
export async function fetchDag(
  gateway: string,
  root: string,
  disk: Disk,
): Promise<{ blocks: string[]; segments: Segment[] }> {
  const blocks: string[] = [];
  const seen = new Set<string>();
  const fileSegments: Segment[] = [];
  const allSegments: Segment[] = [];
  let isFile = false;

  const visit = async (cid: CID, depth: number): Promise<void> => {
    const key = cid.toString();
    // An identity block carries its bytes in the CID: nothing to store, and (like the Pin's
    // summary) not part of a directory's stream.
    if (cid.multihash.code === IDENTITY && cid.code !== RAW)
      throw new Error(`identity dag-pb ${key}`);
    if (cid.multihash.code === IDENTITY) {
      if (depth === 0) isFile = true;
      return;
    }
    const bytes = await getBlock(gateway, cid, disk);
    if (!seen.has(key)) {
      seen.add(key);
      blocks.push(key);
      allSegments.push({ cid: key, at: 0, length: bytes.length });
    }
    if (cid.code === RAW) {
      if (depth === 0) isFile = true;
      fileSegments.push({ cid: key, at: 0, length: bytes.length });
      return;
    }
    if (cid.code !== DAG_PB) throw new Error(`codec 0x${cid.code.toString(16)} is not supported`);
    const node = dagPb.decode(bytes);
    let unixfs: UnixFS | null = null;
    try {
      unixfs = node.Data ? UnixFS.unmarshal(node.Data) : null;
    } catch {
      unixfs = null;
    }
    const fileLike = unixfs && (unixfs.type === "file" || unixfs.type === "raw");
    if (depth === 0) isFile = Boolean(fileLike);
    if (fileLike && unixfs?.data && unixfs.data.length > 0 && node.Data) {
      // The file bytes sit inside the UnixFS message, inside the dag-pb node: find where.
      const inNode = Buffer.from(node.Data).lastIndexOf(Buffer.from(unixfs.data));
      const at = Buffer.from(bytes).lastIndexOf(Buffer.from(node.Data));
      if (inNode < 0 || at < 0) throw new Error(`cannot locate the data of ${key}`);
      fileSegments.push({ cid: key, at: at + inNode, length: unixfs.data.length });
    }
    for (const link of node.Links) await visit(link.Hash, depth + 1);
  };

  await visit(CID.parse(root), 0);
  return { blocks, segments: isFile ? fileSegments : allSegments };
}

async function getBlock(gateway: string, cid: CID, disk: Disk): Promise<Uint8Array> {
  const key = cid.toString();
  const local = disk.getBlock(key);
  if (local && matches(cid, local)) return local;
  if (cid.multihash.code === IDENTITY) return cid.multihash.digest;
  const res = await fetch(`${gateway.replace(/\/$/, "")}/ipfs/${key}?format=raw`, {
    headers: { accept: "application/vnd.ipld.raw" },
    redirect: "error",
    signal: AbortSignal.timeout(60_000),
  });
  if (res.status !== 200) throw new Error(`gateway answered ${res.status} for ${key}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > MAX_BLOCK_BYTES) throw new Error(`block ${key} is larger than 2 MiB`);
  if (!matches(cid, bytes)) throw new Error(`gateway sent bytes that do not hash to ${key}`);
  disk.putBlock(key, bytes);
  return bytes;
}

/** True when `bytes` hash to the CID's multihash (SHA-256 or identity; others are refused). */
export function matches(cid: CID, bytes: Uint8Array): boolean {
  if (cid.multihash.code === IDENTITY) return Buffer.from(cid.multihash.digest).equals(bytes);
  if (cid.multihash.code !== SHA2_256) return false;
  return createHash("sha256").update(bytes).digest().equals(cid.multihash.digest);
}
