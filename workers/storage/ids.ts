import { randomBase32 } from "../../protocol/ids.ts";

/** One upload attempt: the owner of its blocks in `BlockRefs` until the upload is deleted. */
export const newUploadId = () => `upl_${randomBase32(20)}`;
/** A resumable upload session. */
export const newSessionId = () => `ups_${randomBase32(20)}`;
export const SESSION_ID_PATTERN = /^ups_[a-z2-7]{20}$/;
