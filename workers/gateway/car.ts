import { CarWriter } from "@ipld/car/writer";
import type { CID } from "multiformats/cid";
import { IDENTITY } from "./cid.ts";
import type { Block } from "./verified-blocks.ts";

/** Parameters of the CAR we send (Trustless Gateway spec, "CAR format signaling in Response"). */
export interface CarOptions {
  /** `dups=y`: repeat a block every time the walk meets it; `n`: send each block once. */
  dups: boolean;
}

export const CAR_CONTENT_TYPE = "application/vnd.ipld.car";

/** The `Content-Type` of our CARs: always version 1, always depth-first. */
export function carContentType({ dups }: CarOptions): string {
  return `${CAR_CONTENT_TYPE}; version=1; order=dfs; dups=${dups ? "y" : "n"}`;
}

/**
 * A CARv1 (https://ipld.io/specs/transport/car/carv1/) with `root` in its header and `blocks` in
 * the order given, as a byte stream. Identity-hashed blocks are left out: the Trustless Gateway
 * spec ("CAR dups") forbids them, their bytes already sit in the CID. `@ipld/car`'s writer only
 * produces the next bytes when the reader asks, so a slow client slows the walk instead of
 * filling memory.
 */
export async function* carBytes(
  root: CID,
  blocks: AsyncIterable<Block>,
  { dups }: CarOptions,
): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([root]);
  const seen = new Set<string>();
  let failure: unknown;
  const producing = (async () => {
    try {
      for await (const block of blocks) {
        if (block.cid.multihash.code === IDENTITY) continue;
        const key = block.cid.toString();
        if (!dups && seen.has(key)) continue;
        seen.add(key);
        await writer.put({ cid: block.cid, bytes: block.bytes });
      }
    } catch (err) {
      failure = err;
    } finally {
      await writer.close();
    }
  })();
  for await (const chunk of out) {
    yield chunk;
  }
  await producing;
  // A block that went missing or failed verification mid-walk: end the body with an error so the
  // client sees a truncated CAR, never one that looks complete (spec: "Streaming and Missing
  // Child Blocks").
  if (failure !== undefined) throw failure;
}
