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
  /**
   * Called once per response with the body bytes actually delivered (0 for HEAD and 304; for a
   * stream, counted as the client reads, so an aborted download reports what it got): metering.
   */
  served: (bytes: number) => void;
}

/** Headers shared by a 304 and the response it stands for: everything but the body's own. */
export function notModified(headers: Headers): Response {
  return new Response(null, { status: 304, headers });
}
