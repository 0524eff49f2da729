import { contentDisposition, etags, immutableHeaders, matchesIfNoneMatch } from "./headers.ts";
import { RAW_CONTENT_TYPE } from "./negotiate.ts";
import { parseRange } from "./range.ts";
import { type GatewayRequest, notModified } from "./request.ts";
import { resolvePath } from "./resolve.ts";
import { arrayBufferView, type VerifiedBlocks } from "./verified-blocks.ts";

/**
 * `application/vnd.ipld.raw`: the one block at the end of the path, byte for byte (Trustless
 * Gateway spec, "Block Responses": "The Body hash MUST match the Multihash from the requested
 * CID"; we check that before sending). Range works on the block's bytes.
 */
export async function serveRaw(
  req: GatewayRequest,
  blocks: VerifiedBlocks,
  contentLocation: string | undefined,
): Promise<Response> {
  // Without a path the ETag is known before touching storage: a revalidation costs no R2 read.
  if (
    req.segments.length === 0 &&
    matchesIfNoneMatch(req.headers.ifNoneMatch, etags.raw(req.root))
  ) {
    req.served(0);
    return notModified(immutableHeaders(etags.raw(req.root), req.ipfsPath, [req.root]));
  }
  const { node, roots } = await resolvePath(blocks, req.root, req.segments);
  const etag = etags.raw(node.cid);
  const headers = immutableHeaders(etag, req.ipfsPath, roots);
  if (matchesIfNoneMatch(req.headers.ifNoneMatch, etag)) {
    req.served(0);
    return notModified(headers);
  }
  headers.set("content-type", RAW_CONTENT_TYPE);
  headers.set(
    "content-disposition",
    contentDisposition("attachment", req.query.filename ?? `${node.cid}.bin`),
  );
  headers.set("accept-ranges", "bytes");
  if (contentLocation) headers.set("content-location", contentLocation);
  const range = parseRange(req.headers.range, node.bytes.length);
  let body = node.bytes;
  let status = 200;
  if (range) {
    body = node.bytes.subarray(range.start, range.end);
    status = 206;
    headers.set("content-range", `bytes ${range.start}-${range.end - 1}/${node.bytes.length}`);
    headers.set("etag", etags.ranged(etag, range.start, range.end));
  }
  headers.set("content-length", String(body.length));
  const sent = req.method === "HEAD" ? 0 : body.length;
  req.served(sent);
  return new Response(req.method === "HEAD" ? null : arrayBufferView(body), { status, headers });
}
