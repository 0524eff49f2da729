import { BlockStore } from "../../durable-objects/storage/blocks.ts";
import { ApiError } from "../http/problem.ts";
import { negotiate } from "./negotiate.ts";
import type { GatewayRequest } from "./request.ts";
import { serveCar } from "./serve-car.ts";
import { serveRaw } from "./serve-raw.ts";
import { serveUnixFS } from "./serve-unixfs.ts";
import type { BlockSource } from "./upstream.ts";
import { canVerify, VerifiedBlocks } from "./verified-blocks.ts";

export interface NegotiationInput {
  format?: string | undefined;
  accept?: string | undefined;
  serviceWorker?: string | undefined;
  car: {
    "car-version"?: string | undefined;
    "car-order"?: string | undefined;
    "car-dups"?: string | undefined;
  };
}

/**
 * Answers one `/ipfs/{cid}[/{path}]` request from the blocks in R2: picks the response type, then
 * hands off to the raw-block, CAR or deserialized UnixFS responder. Every block any of them reads
 * is verified against its CID first (`VerifiedBlocks`).
 */
export async function serveGateway(
  req: GatewayRequest,
  bucket: R2Bucket,
  input: NegotiationInput,
  upstreams?: BlockSource,
): Promise<Response> {
  // Path Gateway spec, "Service-Worker (request header)": a worker registered from the bare
  // content root would control every /ipfs/ path of this origin.
  if (input.serviceWorker === "script" && req.segments.length === 0 && !req.trailingSlash) {
    throw new ApiError(
      "service_worker_not_allowed",
      `Register service workers under ${req.ipfsPath}/.`,
    );
  }
  const negotiated = negotiate(input.format, input.accept, input.car);
  if (!canVerify(req.root)) {
    const code = req.root.multihash.code.toString(16);
    throw new ApiError(
      "unsupported_cid",
      `Blocks hashed with multihash 0x${code} cannot be verified here.`,
    );
  }
  const blocks = new VerifiedBlocks(new BlockStore(bucket), upstreams);
  // Spec, "Content-Location": when Accept chose the format, name the URL that pins it, so
  // HTTP caches keep the deserialized, raw and CAR answers apart.
  const contentLocation = (format: string) =>
    `${req.ipfsPath}${req.search ? `${req.search}&` : "?"}format=${format}`;
  switch (negotiated.format) {
    case "raw":
      return serveRaw(req, blocks, negotiated.fromAccept ? contentLocation("raw") : undefined);
    case "car":
      return serveCar(
        req,
        blocks,
        negotiated.dups,
        negotiated.fromAccept ? contentLocation("car") : undefined,
      );
    case "unixfs":
      return serveUnixFS(req, blocks, negotiated.acceptsHtml);
  }
}
