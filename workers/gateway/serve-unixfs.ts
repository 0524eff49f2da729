import { ApiError } from "../http/problem.ts";
import { sniff, typeFromName } from "./content-type.ts";
import { fileBytes } from "./file.ts";
import { contentDisposition, etags, immutableHeaders, matchesIfNoneMatch } from "./headers.ts";
import { directoryListing } from "./listing.ts";
import { parseRange } from "./range.ts";
import { type GatewayRequest, notModified } from "./request.ts";
import { listDirectory, resolvePath } from "./resolve.ts";
import { byteStream, prepend } from "./stream.ts";
import { decodeNode, type UnixFSNode } from "./unixfs.ts";
import { arrayBufferView, type VerifiedBlocks } from "./verified-blocks.ts";

/** Media types for blocks of non-UnixFS codecs, served as they are (Path Gateway spec, "Response Payload"). */
const CODEC_TYPES: Record<number, string> = {
  113: "application/vnd.ipld.dag-cbor",
  297: "application/vnd.ipld.dag-json",
  512: "application/json",
  81: "application/cbor",
};

/** How many leading bytes decide a sniffed content type. */
const SNIFF_BYTES = 512;

/**
 * The deserialized response (Path Gateway spec, "Response Payload"): a file's bytes, a
 * directory's `index.html` if it has one, else a generated HTML index.
 */
export async function serveUnixFS(
  req: GatewayRequest,
  blocks: VerifiedBlocks,
  acceptsHtml: boolean,
): Promise<Response> {
  const { node, roots } = await resolvePath(blocks, req.root, req.segments);
  if (node.kind === "directory" || node.kind === "hamt") {
    // Spec, "Use in directory URL normalization": a directory without the trailing slash MUST
    // redirect, so relative links in listings and index.html resolve under it.
    if (!req.trailingSlash) {
      return new Response(null, {
        status: 301,
        headers: { location: `${req.ipfsPath}/${req.search}`, "x-ipfs-path": req.ipfsPath },
      });
    }
    const entries = await listDirectory(blocks, node);
    const index = entries.find((e) => e.name === "index.html");
    const file = index && decodeNode(index.cid, await blocks.get(index.cid));
    if (index && file && (file.kind === "file" || file.kind === "raw")) {
      return serveFile(req, blocks, file, "index.html", [...roots, index.cid]);
    }
    if (!acceptsHtml) {
      throw new ApiError(
        "not_acceptable",
        "This is a directory: ask for text/html, or for ?format=car.",
      );
    }
    const etag = etags.dirIndex(node.cid);
    const headers = immutableHeaders(etag, req.ipfsPath, roots);
    if (matchesIfNoneMatch(req.headers.ifNoneMatch, etag)) {
      req.served(0);
      return notModified(headers);
    }
    const html = new TextEncoder().encode(directoryListing(req.ipfsPath, node.cid, entries));
    headers.set("content-type", "text/html; charset=utf-8");
    headers.set("content-length", String(html.length));
    req.served(req.method === "HEAD" ? 0 : html.length);
    return new Response(req.method === "HEAD" ? null : html, { status: 200, headers });
  }
  if (node.kind === "other") {
    const type = CODEC_TYPES[node.cid.code];
    if (!type)
      throw new ApiError(
        "unsupported_cid",
        `Codec 0x${node.cid.code.toString(16)} cannot be deserialized here; try ?format=raw.`,
      );
    const etag = etags.file(node.cid);
    const headers = immutableHeaders(etag, req.ipfsPath, roots);
    if (matchesIfNoneMatch(req.headers.ifNoneMatch, etag)) return notModified(headers);
    headers.set("content-type", type);
    headers.set("content-length", String(node.bytes.length));
    req.served(req.method === "HEAD" ? 0 : node.bytes.length);
    return new Response(req.method === "HEAD" ? null : arrayBufferView(node.bytes), { headers });
  }
  return serveFile(req, blocks, node, req.segments.at(-1), roots);
}

/**
 * A UnixFS file, whole (200) or one byte range (206), streamed leaf by leaf. The first chunk is
 * read before answering, to sniff the type and so that a missing or corrupt first block is a
 * proper problem response rather than a cut-off body.
 */
async function serveFile(
  req: GatewayRequest,
  blocks: VerifiedBlocks,
  node: Extract<UnixFSNode, { kind: "raw" | "file" }>,
  name: string | undefined,
  roots: UnixFSNode["cid"][],
): Promise<Response> {
  const size = node.size;
  const baseEtag = etags.file(node.cid);
  const range = parseRange(req.headers.range, size);
  const etag = range ? etags.ranged(baseEtag, range.start, range.end) : baseEtag;
  const headers = immutableHeaders(etag, req.ipfsPath, roots);
  if (
    matchesIfNoneMatch(req.headers.ifNoneMatch, baseEtag) ||
    matchesIfNoneMatch(req.headers.ifNoneMatch, etag)
  ) {
    req.served(0);
    return notModified(headers);
  }
  const { start, end } = range ?? { start: 0, end: size };
  const chunks = fileBytes(blocks, node, start, end);
  // The type must not depend on the range asked for, so a ranged request sniffs the file's head.
  const first = await chunks.next();
  const firstChunk = first.done ? undefined : first.value;
  const filename = req.query.filename ?? name;
  let type = typeFromName(filename);
  if (!type) {
    const head = start === 0 ? firstChunk : await firstBytes(blocks, node);
    type = sniff((head ?? new Uint8Array(0)).subarray(0, SNIFF_BYTES));
  }
  headers.set("content-type", type);
  headers.set("accept-ranges", "bytes");
  headers.set("content-length", String(end - start));
  const download = req.query.download === "true";
  if (download || req.query.filename !== undefined) {
    headers.set(
      "content-disposition",
      contentDisposition(download ? "attachment" : "inline", filename ?? `${node.cid}`),
    );
  }
  let status = 200;
  if (range) {
    status = 206;
    headers.set("content-range", `bytes ${start}-${end - 1}/${size}`);
  }
  if (req.method === "HEAD") {
    await chunks.return(undefined);
    req.served(0);
    return new Response(null, { status, headers });
  }
  const body = byteStream(prepend(firstChunk, chunks), (n) => req.served(n));
  return new Response(body, { status, headers });
}

async function firstBytes(
  blocks: VerifiedBlocks,
  node: UnixFSNode,
): Promise<Uint8Array | undefined> {
  const size = node.kind === "raw" || node.kind === "file" ? node.size : 0;
  for await (const chunk of fileBytes(blocks, node, 0, Math.min(size, SNIFF_BYTES))) return chunk;
  return undefined;
}
