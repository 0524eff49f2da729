import { ApiError } from "../http/problem.ts";

/** What the response will be: deserialized UnixFS, one raw block, or a CAR. */
export type Negotiated =
  | { format: "unixfs"; acceptsHtml: boolean; fromAccept: false }
  | { format: "raw"; fromAccept: boolean }
  | { format: "car"; dups: boolean; fromAccept: boolean };

export const RAW_CONTENT_TYPE = "application/vnd.ipld.raw";

/** `?format=` values the Path Gateway spec names that this gateway does not produce. */
const KNOWN_UNSUPPORTED = new Set(["tar", "dag-json", "dag-cbor", "json", "cbor", "ipns-record"]);

export interface CarQuery {
  "car-version"?: string | undefined;
  "car-order"?: string | undefined;
  "car-dups"?: string | undefined;
}

/**
 * Picks the response type from `?format=` (which wins over `Accept`: Trustless Gateway spec,
 * "format (request query parameter)") or else from `Accept`, honouring q-values. CAR variants
 * other than version 1 in DFS order are refused: 406 when they came from `Accept`, 400 from the
 * query ("A Gateway MAY choose to implement only some parameters and return HTTP 400 Bad Request
 * or 406 Not Acceptable").
 */
export function negotiate(
  format: string | undefined,
  accept: string | undefined,
  car: CarQuery,
): Negotiated {
  if (format !== undefined) {
    if (format === "raw") return { format: "raw", fromAccept: false };
    if (format === "car") {
      const dups = carVariant(car["car-version"], car["car-order"], car["car-dups"]);
      if (dups === null)
        throw new ApiError(
          "unsupported_format",
          "Only CAR version 1, order dfs or unk, dups y or n.",
        );
      return { format: "car", dups, fromAccept: false };
    }
    const why = KNOWN_UNSUPPORTED.has(format)
      ? "is not produced by this gateway"
      : "is not a gateway format";
    throw new ApiError(
      "unsupported_format",
      `format=${format.slice(0, 40)} ${why}; use raw or car.`,
    );
  }
  if (!accept?.trim()) return { format: "unixfs", acceptsHtml: true, fromAccept: false };
  let deserialized = false;
  let acceptsHtml = false;
  for (const range of parseAccept(accept)) {
    const type = range.type;
    if (type === RAW_CONTENT_TYPE) return { format: "raw", fromAccept: true };
    if (type === "application/vnd.ipld.car") {
      const dups = carVariant(range.params.version, range.params.order, range.params.dups);
      if (dups !== null) return { format: "car", dups, fromAccept: true };
      continue; // a variant we do not produce: try the client's next preference
    }
    if (type === "*/*" || type === "text/*" || type === "text/html") acceptsHtml = true;
    // Any other type (text/html, image/*, application/octet-stream, ...) is satisfied by the
    // deserialized file; keep scanning only to learn whether HTML is acceptable.
    if (!NOT_PRODUCED.has(type)) deserialized = true;
  }
  if (deserialized) return { format: "unixfs", acceptsHtml, fromAccept: false };
  throw new ApiError("not_acceptable", `Cannot produce any of: ${accept.slice(0, 200)}.`);
}

/** Media types of Path Gateway response formats this gateway does not produce. */
const NOT_PRODUCED = new Set([
  "application/x-tar",
  "application/vnd.ipld.dag-json",
  "application/vnd.ipld.dag-cbor",
  "application/json",
  "application/cbor",
  "application/vnd.ipfs.ipns-record",
]);

/** `dups` as a boolean (default n) if the CAR variant is one we produce, else null. */
function carVariant(version?: string, order?: string, dups?: string): boolean | null {
  if (version !== undefined && version !== "1") return null;
  if (order !== undefined && order !== "dfs" && order !== "unk") return null;
  if (dups !== undefined && dups !== "y" && dups !== "n") return null;
  return dups === "y";
}

interface MediaRange {
  type: string;
  q: number;
  params: Record<string, string>;
}

/** RFC 9110 §12.5.1 `Accept`, most preferred first (stable for equal q); q=0 ranges dropped. */
export function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(",")) {
    const [rawType, ...rawParams] = part.split(";");
    const type = rawType?.trim().toLowerCase();
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const p of rawParams) {
      const eq = p.indexOf("=");
      if (eq > 0)
        params[p.slice(0, eq).trim().toLowerCase()] = p
          .slice(eq + 1)
          .trim()
          .replace(/^"|"$/g, "");
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    if (Number.isFinite(q) && q > 0) ranges.push({ type, q, params });
  }
  return ranges.sort((a, b) => b.q - a.q);
}
