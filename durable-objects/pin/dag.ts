import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import { hex } from "../../protocol/digest.ts";
import { createHasher, init as initBlake3 } from "../../wasm/index.ts";
import { DAG_PB, IDENTITY, RAW } from "../../workers/gateway/cid.ts";

/**
 * What a pin walks and records: the links of a block (only dag-pb and raw DAGs are walked, as
 * UnixFS content is), and once every block is stored, the content's summary for the upload
 * record and the replicas.
 */
export function linksOf(cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === RAW) return [];
  if (cid.code !== DAG_PB) throw new UnwalkableCodec(cid);
  return dagPb.decode(bytes).Links.map((l) => l.Hash as CID);
}

export class UnwalkableCodec extends Error {
  constructor(readonly cid: CID) {
    super(`block ${cid} has codec 0x${cid.code.toString(16)}; only dag-pb and raw DAGs are pinned`);
  }
}

export interface ContentSummary {
  kind: "file" | "directory" | "car";
  /** File bytes for a file; bytes of the DAG's blocks otherwise. */
  size: number;
  /**
   * BLAKE3 (hex) of the file bytes for a UnixFS file (the same root an upload records). For a
   * directory or any other DAG: of its blocks' bytes concatenated in the depth-first order of the
   * gateway's CAR (`?format=car&dups=n`, without the CAR framing), which a provider holding the
   * DAG can produce alike.
   */
  blake3: string;
}

/** Reads the stored DAG (every block verified by `get`) once more to summarize it. */
export async function summarize(
  root: CID,
  get: (cid: CID) => Promise<Uint8Array>,
): Promise<ContentSummary> {
  await initBlake3();
  const hasher = createHasher();
  let size = 0;
  const feed = (bytes: Uint8Array) => {
    hasher.update(bytes);
    size += bytes.length;
  };
  if (isFile(root, await get(root))) {
    await fileBytes(root, get, feed);
    return { kind: "file", size, blake3: hex(hasher.digest()) };
  }
  const seen = new Set<string>();
  const walk = async (cid: CID): Promise<void> => {
    if (cid.multihash.code === IDENTITY || seen.has(cid.toString())) return;
    seen.add(cid.toString());
    const bytes = await get(cid);
    feed(bytes);
    for (const link of linksOf(cid, bytes)) await walk(link);
  };
  await walk(root);
  const kind = root.code === DAG_PB ? "directory" : "car";
  return { kind, size, blake3: hex(hasher.digest()) };
}

function isFile(cid: CID, bytes: Uint8Array): boolean {
  if (cid.code === RAW) return true;
  if (cid.code !== DAG_PB) return false;
  const data = dagPb.decode(bytes).Data;
  if (!data) return false;
  const type = UnixFS.unmarshal(data).type;
  return type === "file" || type === "raw";
}

/** Feeds a UnixFS file's bytes in order: inline data, then each child's, leaves raw or dag-pb. */
async function fileBytes(
  cid: CID,
  get: (cid: CID) => Promise<Uint8Array>,
  feed: (bytes: Uint8Array) => void,
): Promise<void> {
  const bytes = cid.multihash.code === IDENTITY ? cid.multihash.digest : await get(cid);
  if (cid.code === RAW) return feed(bytes);
  const node = dagPb.decode(bytes);
  const unixfs = node.Data ? UnixFS.unmarshal(node.Data) : undefined;
  if (unixfs?.data && unixfs.data.length > 0) feed(unixfs.data);
  for (const link of node.Links) await fileBytes(CID.asCID(link.Hash) ?? link.Hash, get, feed);
}
