import type { MultibaseDecoder } from "multiformats";
import { bases } from "multiformats/basics";
import { CID } from "multiformats/cid";
import { ApiError } from "../http/problem.ts";

/** Codecs the gateway understands (multicodec table). */
export const RAW = 0x55;
export const DAG_PB = 0x70;
/** Multihash codes the gateway can verify. */
export const IDENTITY = 0x00;
export const SHA2_256 = 0x12;
export const SHA2_512 = 0x13;

// Any multibase the multiformats basics know (base32, base36, base58btc, base64, ...), since the
// Path Gateway spec ("Finding the content root") takes the CID as the client wrote it.
const decoders = new Map(Object.values(bases).map((b) => [b.prefix as string, b.decoder]));
const anyBase: MultibaseDecoder<string> = {
  decode(text) {
    const decoder = decoders.get(String.fromCodePoint(text.codePointAt(0) ?? 0));
    if (!decoder) throw new Error("unknown multibase prefix");
    return decoder.decode(text);
  },
};

/**
 * Parses the CID from `/ipfs/{cid}`: CIDv0 (`Qm…`) or CIDv1 in any known multibase. Anything else
 * is `invalid_cid` (400, Path Gateway spec, "400 Bad Request": "the CID is malformed").
 */
export function parseCid(text: string): CID {
  try {
    return text.startsWith("Qm") || text.startsWith("1")
      ? CID.parse(text)
      : CID.parse(text, anyBase);
  } catch {
    throw new ApiError("invalid_cid", `"${text.slice(0, 100)}" is not a CID.`);
  }
}
