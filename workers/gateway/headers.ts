import type { CID } from "multiformats/cid";

/**
 * Headers every successful `/ipfs/` response carries (Path Gateway spec, "Response Headers"):
 * content under a CID never changes, so caches may keep it for a year without revalidating
 * ("Cache-Control": MUST be `public, max-age=29030400, immutable`), and browsers must not
 * second-guess the content type we chose (`nosniff`).
 *
 * The gateway shares its origin with the API and the contributor page, and anyone can put HTML
 * under a CID (identity CIDs need no upload at all), so content runs in a CSP sandbox: a unique
 * opaque origin, no scripts. A site that needs scripts belongs on a gateway with its own origin.
 */
export function immutableHeaders(etag: string, ipfsPath: string, roots: readonly CID[]): Headers {
  return new Headers({
    etag,
    "cache-control": "public, max-age=29030400, immutable",
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox",
    "x-ipfs-path": ipfsPath,
    "x-ipfs-roots": roots.map(String).join(","),
  });
}

/**
 * ETags per the Path Gateway spec ("Etag (response header)"): the CID for deserialized content,
 * with a format suffix for raw blocks and CARs, the range appended for a partial response, and a
 * versioned prefix for generated directory listings so a new listing template busts caches.
 */
export const etags = {
  file: (cid: CID) => `"${cid}"`,
  raw: (cid: CID) => `"${cid}.raw"`,
  /**
   * Our CARs are deterministic (DFS, fixed dups) so the tag is strong; it names the requested root,
   * the path and every parameter that changes the bytes ("dag-scope": "When present, returned Etag
   * must include unique prefix based on the passed scope type"; "entity-bytes": "MUST augment").
   */
  car: (root: CID, digest: string) => `"${root}.car.${digest}"`,
  dirIndex: (cid: CID) => `"DirIndex-${LISTING_VERSION}_CID-${cid}"`,
  ranged: (etag: string, start: number, end: number) => `${etag.slice(0, -1)}.${start}-${end - 1}"`,
};

/** Bump when the HTML listing template changes. */
export const LISTING_VERSION = "tessera1";

/**
 * `If-None-Match` (RFC 9110 §13.1.2, weak comparison): true when any listed tag, or `*`, matches.
 * The Path Gateway spec ("If-None-Match") says a match MUST be answered with 304.
 */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  return header.split(",").some((t) => t.trim() === "*" || bare(t) === bare(etag));
}

/** A short hex digest of the parameters that shape a CAR, for its ETag. */
export async function paramsDigest(parts: readonly string[]): Promise<string> {
  const bytes = new TextEncoder().encode(parts.join("\n"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `Content-Disposition` (Path Gateway spec, "Content-Disposition"): `attachment` for `download=true`
 * and for raw/CAR bodies, `inline` when only a filename was asked for. Non-ASCII names get an
 * ASCII fallback and an RFC 8187 `filename*`.
 */
export function contentDisposition(kind: "inline" | "attachment", filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const value = `${kind}; filename="${fallback}"`;
  return fallback === filename
    ? value
    : `${value}; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
