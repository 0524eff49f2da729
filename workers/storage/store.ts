import type { CID } from "multiformats/cid";
import type { Account, RecordOutcome, UploadKind } from "../../durable-objects/account/account.ts";
import {
  type BlockWriter,
  releaseUpload,
  type WriterBindings,
} from "../../durable-objects/storage/writer.ts";
import { ApiError } from "../http/problem.ts";

/**
 * The last step of every upload: the written blocks become the account's, or are given back.
 *
 * The manifest is written first, then the account records the upload under its quota. A refusal,
 * or the same content already held by the account, releases this attempt's blocks (blocks shared
 * with other uploads stay). A crash between the two steps leaves blocks registered to an attempt
 * no upload names: storage leaks until an audit, but nothing the account holds is ever lost.
 */
export async function finishUpload(
  env: WriterBindings,
  account: DurableObjectStub<Account>,
  writer: BlockWriter,
  upload: { cid: CID; name: string | null; kind: UploadKind; size: number; blake3: string | null },
  quota: number,
  record?: (u: Parameters<Account["recordUpload"]>[0]) => Promise<RecordOutcome>,
) {
  await writer.commit();
  const row = {
    cid: upload.cid.toString(),
    upload_id: writer.owner,
    name: upload.name,
    kind: upload.kind,
    size: upload.size,
    dag_size: writer.bytes,
    blocks: writer.blockCount,
    blake3: upload.blake3,
  };
  const outcome = await (record ? record(row) : account.recordUpload(row, quota));
  if (!outcome.ok) {
    await releaseUpload(env, writer.owner);
    throw new ApiError(outcome.code, `${outcome.detail}.`);
  }
  if (!outcome.created) await releaseUpload(env, writer.owner);
  return outcome;
}
