import type { CID } from "multiformats/cid";

/** A parsed `/ipfs/{cid}[/{path}]` request, as the serving functions see it. */
export interface GatewayRequest {
  method: "GET" | "HEAD";
  root: CID;
  /** Path segments after the CID, percent-decoded, empty ones dropped. */
  segments: string[];
  /** The request path as sent (still percent-encoded): `X-Ipfs-Path`. */
  ipfsPath: string;
  trailingSlash: boolean;
  /** The query string including `?`, or "" (kept on redirects). */
  search: string;
  query: {
    filename?: string | undefined;
    download?: string | undefined;
    "dag-scope"?: "block" | "entity" | "all" | undefined;
    "entity-bytes"?: string | undefined;
  };
  headers: {
    range?: string | undefined;
    ifNoneMatch?: string | undefined;
  };
}

/** Headers shared by a 304 and the response it stands for: everything but the body's own. */
export function notModified(headers: Headers): Response {
  return new Response(null, { status: 304, headers });
}
