import { ApiError } from "../http/problem.ts";
import type { ByteSpan } from "./traverse.ts";

/**
 * The `Range` header (RFC 9110 §14.2) against a file of `size` bytes: null when there is none or
 * it is not a valid bytes range (ignored, as §14.2 allows: the client gets the whole file), else
 * the first satisfiable range as `[start, end)`.
 *
 * Multi-range requests are answered with the first satisfiable range only, as a plain 206 with
 * one `Content-Range`: the Path Gateway spec ("Range") makes more than one range optional, and a
 * multipart/byteranges body buys clients little for content they can re-request by range.
 * A range list none of which can be satisfied is `range_not_satisfiable` (416).
 */
export function parseRange(header: string | undefined, size: number): ByteSpan | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m?.[1]) return null;
  const specs: Array<{ first?: number; last?: number; suffix?: number }> = [];
  for (const part of m[1].split(",")) {
    const s = part.trim();
    if (!s) continue;
    const r = /^(\d*)-(\d*)$/.exec(s);
    if (!r || (r[1] === "" && r[2] === "")) return null;
    if (r[2] !== "" && r[1] !== "" && Number(r[2]) < Number(r[1])) return null; // invalid: ignore
    if (r[1] === "") specs.push({ suffix: Number(r[2]) });
    else specs.push({ first: Number(r[1]), ...(r[2] === "" ? {} : { last: Number(r[2]) }) });
  }
  for (const spec of specs) {
    if (spec.suffix !== undefined) {
      if (spec.suffix > 0 && size > 0) return { start: Math.max(0, size - spec.suffix), end: size };
    } else if (spec.first !== undefined && spec.first < size) {
      return { start: spec.first, end: Math.min(size, (spec.last ?? size - 1) + 1) };
    }
  }
  throw new ApiError("range_not_satisfiable", `No requested range lies within the ${size} bytes.`, {
    headers: { "content-range": `bytes */${size}` },
  });
}

const ENTITY_BYTES = /^(-?\d+):(-?\d+|\*)$/;

/** True when `value` has the `from:to` shape of `entity-bytes`. */
export function isEntityBytes(value: string): boolean {
  return ENTITY_BYTES.test(value);
}

/**
 * `entity-bytes=from:to` (Trustless Gateway spec, "entity-bytes (request query parameter)")
 * against an entity of `size` bytes: inclusive offsets, negative ones counted from the end, `*` for
 * the last byte. A range wholly outside the entity is refused up front (the spec's SHOULD, 400); a
 * range that resolves to nothing is answered as `dag-scope=block` (null); a range partly outside
 * is clipped to the entity.
 */
export function resolveEntityBytes(value: string, size: number): ByteSpan | null {
  const m = ENTITY_BYTES.exec(value);
  if (!m?.[1] || !m[2])
    throw new ApiError(
      "invalid_entity_bytes",
      `entity-bytes=${value.slice(0, 40)} is not from:to.`,
    );
  const from = Number(m[1]);
  const start = from < 0 ? Math.max(0, size + from) : from;
  const to = m[2] === "*" ? size - 1 : Number(m[2]);
  const last = to < 0 ? size + to : Math.min(to, size - 1);
  if (start >= size && size > 0) {
    throw new ApiError(
      "invalid_entity_bytes",
      `entity-bytes=${value} starts past the entity's ${size} bytes.`,
    );
  }
  if (last < start) return null;
  return { start, end: last + 1 };
}
