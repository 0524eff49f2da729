import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ErrorCode } from "../../protocol/errors.ts";
import { config } from "../config.ts";
import { parseCid } from "../gateway/cid.ts";
import { meter, refuseOverCap } from "../gateway/metering.ts";
import { BlockSources, ProviderBlocks } from "../gateway/providers.ts";
import type { GatewayRequest } from "../gateway/request.ts";
import { serveGateway } from "../gateway/serve.ts";
import { Upstreams } from "../gateway/upstream.ts";
import { problemResponses } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/ipfs/{cid}[/{path}]`: the IPFS Path Gateway (https://specs.ipfs.tech/http-gateways/path-gateway/)
 * with the Trustless Gateway's raw-block and CAR responses
 * (https://specs.ipfs.tech/http-gateways/trustless-gateway/), served from the blocks in R2. No
 * authentication: content addressed by CID is public, and every block is verified before it is sent.
 * HEAD is answered by the GET handler (Hono runs GET for HEAD and drops the body).
 */
export const gateway = new OpenAPIHono<AppEnv>();

const Query = z.object({
  format: z.string().max(40).optional().openapi({
    description:
      "`raw` (one block, application/vnd.ipld.raw) or `car` (application/vnd.ipld.car); wins over Accept.",
    example: "car",
  }),
  "dag-scope": z.enum(["block", "entity", "all"]).optional().openapi({
    description:
      "CAR only: which blocks under the path's end (Trustless Gateway spec). Default `all`.",
  }),
  "entity-bytes": z.string().max(60).optional().openapi({
    description:
      "CAR only: `from:to` byte range of the file at the path's end (inclusive; negative counts from the end; `*` is the end).",
    example: "0:1048575",
  }),
  "car-version": z.string().max(8).optional().openapi({ description: "CAR only: `1`." }),
  "car-order": z
    .string()
    .max(8)
    .optional()
    .openapi({ description: "CAR only: `dfs` or `unk` (we always send dfs)." }),
  "car-dups": z
    .string()
    .max(8)
    .optional()
    .openapi({ description: "CAR only: `y` or `n` (default)." }),
  filename: z
    .string()
    .max(255)
    .optional()
    .openapi({ description: "Name for Content-Disposition and the content type." }),
  download: z
    .enum(["true", "false"])
    .optional()
    .openapi({ description: "`true`: Content-Disposition attachment." }),
});

const Headers = z.object({
  accept: z.string().optional().openapi({
    description:
      "`application/vnd.ipld.raw`, `application/vnd.ipld.car[; version=1; order=dfs; dups=y|n]`, or anything else for the deserialized file or an HTML directory index.",
  }),
  range: z
    .string()
    .optional()
    .openapi({ description: "One byte range of a file or raw block (RFC 9110)." }),
  "if-none-match": z
    .string()
    .optional()
    .openapi({ description: "ETag from an earlier response: 304 if it matches." }),
});

const CidParam = z.string().min(1).max(512).openapi({
  description: "CIDv1 (any multibase) or CIDv0.",
  example: "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
});

const binary = (description: string) => ({
  description,
  content: {
    "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) },
    "application/vnd.ipld.raw": { schema: z.string().openapi({ format: "binary" }) },
    "application/vnd.ipld.car": { schema: z.string().openapi({ format: "binary" }) },
    "text/html": { schema: z.string() },
  },
});

const GATEWAY_PROBLEMS: ErrorCode[] = [
  "invalid_cid",
  "unsupported_cid",
  "unsupported_format",
  "validation_failed",
  "invalid_entity_bytes",
  "service_worker_not_allowed",
  "malformed_dag",
  "content_not_found",
  "path_not_found",
  "not_acceptable",
  "range_not_satisfiable",
  "block_corrupt",
  "spend_cap_exceeded",
];

const responses = {
  200: binary("The file, the raw block, the CAR, or the directory's index.html or HTML index"),
  206: binary("One byte range of a file or raw block (`Content-Range`)"),
  301: { description: "A directory asked for without its trailing slash" },
  304: { description: "`If-None-Match` matched the ETag" },
  ...problemResponses(...GATEWAY_PROBLEMS),
};

const description =
  "Content by CID, every block verified against its hash. Responses are immutable (`Cache-Control: public, max-age=29030400, immutable`), carry `ETag`, `X-Ipfs-Path` and `X-Ipfs-Roots`. HEAD answers the same headers without a body.";

const atRoot = createRoute({
  method: "get",
  path: "/ipfs/{cid}",
  tags: ["Gateway"],
  summary: "Get content by CID",
  description,
  request: { params: z.object({ cid: CidParam }), query: Query, headers: Headers },
  responses,
});

const atPath = createRoute({
  method: "get",
  path: "/ipfs/{cid}/{path}",
  tags: ["Gateway"],
  summary: "Get content by CID and UnixFS path",
  description: `${description} \`path\` may span several segments (\`a/b.txt\`); a directory without a trailing slash redirects (301).`,
  request: {
    params: z.object({ cid: CidParam, path: z.string().openapi({ example: "docs/readme.txt" }) }),
    query: Query,
    headers: Headers,
  },
  responses,
});

gateway.openapi(atRoot, (c) =>
  handle(c, c.req.valid("param").cid, c.req.valid("query"), c.req.valid("header")),
);

// Routing needs a multi-segment, possibly empty `path` (`/ipfs/{cid}/` and `/ipfs/{cid}/a/b`),
// which an OpenAPI path parameter cannot express: route with a regex parameter, document the
// plain form.
gateway.openAPIRegistry.registerPath(atPath);
gateway.openAPIRegistry.registerPath({
  ...atRoot,
  method: "head",
  summary: "Headers of content by CID",
});
gateway.openAPIRegistry.registerPath({
  ...atPath,
  method: "head",
  summary: "Headers of content by CID and path",
});
gateway.openapi({ ...atPath, path: "/ipfs/{cid}/{path{.*}}", hide: true }, (c) =>
  handle(c, c.req.valid("param").cid, c.req.valid("query"), c.req.valid("header")),
);

async function handle(
  c: Context<AppEnv>,
  cidText: string,
  query: z.infer<typeof Query>,
  headers: z.infer<typeof Headers>,
): Promise<Response> {
  const url = new URL(c.req.url);
  const root = parseCid(cidText);
  await refuseOverCap(c);
  const prefix = `/ipfs/${encodeURIComponent(cidText)}`;
  const rest = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : "";
  const req: GatewayRequest = {
    method: c.req.method === "HEAD" ? "HEAD" : "GET",
    root,
    segments: decodeSegments(rest),
    ipfsPath: url.pathname,
    trailingSlash: url.pathname.endsWith("/"),
    search: url.search,
    query: {
      filename: query.filename,
      download: query.download,
      "dag-scope": query["dag-scope"],
      "entity-bytes": query["entity-bytes"],
    },
    headers: { range: headers.range, ifNoneMatch: headers["if-none-match"] },
    served: meter(c, root),
  };
  return serveGateway(
    req,
    c.env.BLOCKS,
    {
      format: query.format,
      accept: headers.accept,
      serviceWorker: c.req.header("service-worker"),
      car: {
        "car-version": query["car-version"],
        "car-order": query["car-order"],
        "car-dups": query["car-dups"],
      },
    },
    // Storage providers first (pinned content outlives the R2 copy), then configured upstreams.
    new BlockSources([new ProviderBlocks(c.env), new Upstreams(config(c.env).gatewayUpstreams)]),
  );
}

/** `/a/b%20c/` → ["a", "b c"]: each segment percent-decoded on its own, so `%2F` stays in a name. */
function decodeSegments(rest: string): string[] {
  return rest
    .split("/")
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new ApiError(
          "validation_failed",
          `Path segment "${s.slice(0, 60)}" is not valid percent-encoding.`,
        );
      }
    });
}
