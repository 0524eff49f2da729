import type { CID } from "multiformats/cid";
import { carBytes } from "../../workers/gateway/car.ts";
import {
  arrayBufferView,
  type Block,
  type VerifiedBlocks,
} from "../../workers/gateway/verified-blocks.ts";
import { linksOf } from "./dag.ts";

/**
 * The optional Kubo bridge (issue 8, item 4): pinned content is imported into an operator's Kubo
 * node, which then announces it on the public IPFS network. Plain `fetch` to the RPC API
 * (`POST /api/v0/dag/import`, a multipart body with one CAR file; kubo-rpc-client does not run in
 * workerd, ../shared/TOOLCHAIN.md). Answers `null` on success or what went wrong.
 */
export async function importIntoKubo(
  rpcUrl: string,
  root: CID,
  blocks: VerifiedBlocks,
): Promise<string | null> {
  try {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    for await (const chunk of carBytes(root, dagBlocks(root, blocks), { dups: false })) {
      parts.push(arrayBufferView(chunk));
    }
    const form = new FormData();
    form.append("file", new Blob(parts, { type: "application/vnd.ipld.car" }), "pin.car");
    const res = await fetch(`${rpcUrl}/api/v0/dag/import?pin-roots=true`, {
      method: "POST",
      body: form,
      signal: AbortSignal.timeout(60_000),
    });
    return res.ok ? null : `Kubo answered ${res.status}: ${(await res.text()).slice(0, 200)}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Every block of the DAG, depth-first, each once. */
async function* dagBlocks(root: CID, blocks: VerifiedBlocks): AsyncGenerator<Block> {
  const seen = new Set<string>();
  const stack: CID[] = [root];
  while (stack.length > 0) {
    const cid = stack.pop() as CID;
    if (seen.has(cid.toString())) continue;
    seen.add(cid.toString());
    const bytes = await blocks.get(cid);
    yield { cid, bytes };
    stack.push(...linksOf(cid, bytes).reverse());
  }
}
