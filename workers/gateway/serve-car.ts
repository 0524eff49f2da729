import { ApiError } from "../http/problem.ts";
import { carBytes, carContentType } from "./car.ts";
import {
  contentDisposition,
  etags,
  immutableHeaders,
  matchesIfNoneMatch,
  paramsDigest,
} from "./headers.ts";
import { isEntityBytes, resolveEntityBytes } from "./range.ts";
import { type GatewayRequest, notModified } from "./request.ts";
import { resolvePath } from "./resolve.ts";
import { byteStream } from "./stream.ts";
import { type ByteSpan, type DagScope, scopeBlocks } from "./traverse.ts";
import type { Block, VerifiedBlocks } from "./verified-blocks.ts";

/**
 * `application/vnd.ipld.car` (Trustless Gateway spec, "CAR Responses"): a CARv1 rooted at the
 * requested CID holding, depth-first, the blocks that prove each path segment and then the
 * terminal's blocks for the requested `dag-scope` (default `all`) or `entity-bytes`.
 *
 * The whole path is resolved before the status line, so a missing root or name is a 404 problem;
 * blocks of the terminal DAG are read and verified one at a time while the client reads.
 */
export async function serveCar(
  req: GatewayRequest,
  blocks: VerifiedBlocks,
  dups: boolean,
  contentLocation: string | undefined,
): Promise<Response> {
  const entityBytes = req.query["entity-bytes"];
  if (entityBytes !== undefined && !isEntityBytes(entityBytes)) {
    throw new ApiError(
      "invalid_entity_bytes",
      `entity-bytes=${entityBytes.slice(0, 40)} is not from:to.`,
    );
  }
  // entity-bytes implies dag-scope=entity (spec, "entity-bytes").
  const requested: DagScope =
    entityBytes !== undefined ? "entity" : (req.query["dag-scope"] ?? "all");
  const digest = await paramsDigest([
    req.segments.join("/"),
    requested,
    entityBytes ?? "",
    dups ? "y" : "n",
  ]);
  const etag = etags.car(req.root, digest);
  const headers = immutableHeaders(etag, req.ipfsPath, [req.root]);
  if (matchesIfNoneMatch(req.headers.ifNoneMatch, etag)) {
    req.served(0);
    return notModified(headers);
  }

  const { node, pathBlocks, roots } = await resolvePath(blocks, req.root, req.segments);
  let scope = requested;
  let span: ByteSpan | undefined;
  if (entityBytes !== undefined && (node.kind === "file" || node.kind === "raw")) {
    // A zero-length range is answered as dag-scope=block (spec); for non-files the parameter is ignored.
    const resolved = resolveEntityBytes(entityBytes, node.size);
    if (resolved) span = resolved;
    else scope = "block";
  }
  headers.set("x-ipfs-roots", roots.map(String).join(","));
  headers.set("content-type", carContentType({ dups }));
  headers.set(
    "content-disposition",
    contentDisposition("attachment", req.query.filename ?? `${req.root}.car`),
  );
  // Ranges over a CAR mean nothing to clients; entity-bytes is the verifiable range.
  headers.set("accept-ranges", "none");
  if (contentLocation) headers.set("content-location", contentLocation);
  if (req.method === "HEAD") {
    req.served(0);
    return new Response(null, { status: 200, headers });
  }
  async function* all(): AsyncGenerator<Block> {
    yield* pathBlocks;
    yield* scopeBlocks(blocks, node, scope, span);
  }
  const body = byteStream(carBytes(req.root, all(), { dups }), (n) => req.served(n));
  return new Response(body, { status: 200, headers });
}
