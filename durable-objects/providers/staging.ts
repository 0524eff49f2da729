import * as dagPb from "@ipld/dag-pb";
import { CID } from "multiformats/cid";
import type { Env } from "../../workers/env.ts";
import { VerifiedBlocks } from "../../workers/gateway/verified-blocks.ts";
import { BlockStore, blockKey } from "../storage/blocks.ts";
import { shardOf } from "../storage/writer.ts";

const RAW = 0x55;
const DAG_PB = 0x70;
const IDENTITY = 0x00;

/**
 * Ends the R2 staging copy of pinned content (`R2_STAGING_TTL_SECONDS`, issue 8): once every
 * replica has been proven for the TTL, the content's blocks are deleted from R2 and the gateway
 * reads them from the providers (verified against their CIDs). A block some other upload or pin
 * also owns (`BlockRefs` counts more than one owner) stays: only this pin's own copy goes.
 * The upload record (and its billing) is unchanged; its removal later deletes nothing twice.
 *
 * Returns how many blocks were deleted; 0 when the root is already gone from R2.
 */
export async function dropStagingCopy(env: Env, root: string): Promise<number> {
  const rootCid = CID.parse(root);
  const store = new BlockStore(env.BLOCKS);
  if (!(await store.has(rootCid))) return 0;
  const blocks = new VerifiedBlocks(store);
  const seen = new Map<string, CID>();
  const walk = async (cid: CID): Promise<void> => {
    if (cid.multihash.code === IDENTITY || seen.has(cid.toString())) return;
    seen.set(cid.toString(), cid);
    if (cid.code === RAW) return;
    if (cid.code !== DAG_PB) return;
    const node = dagPb.decode(await blocks.get(cid));
    for (const link of node.Links) await walk(CID.asCID(link.Hash) ?? link.Hash);
  };
  await walk(rootCid);
  let deleted = 0;
  // Children first, the root last: an interrupted run leaves the root, so it runs again.
  for (const cid of [...seen.values()].reverse()) {
    const key = blockKey(cid);
    const refs = env.BLOCK_REFS.get(env.BLOCK_REFS.idFromName(shardOf(cid)));
    const owners = (await refs.counts([key]))[key] ?? 0;
    if (owners > 1) continue;
    await store.delete(cid);
    deleted++;
  }
  return deleted;
}
