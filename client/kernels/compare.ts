import type { JobSpec } from "../../protocol/jobs.ts";

/**
 * Whether two results of the same task agree, per job kind. Integer kernels (inference, wgsl
 * with `exact`) must match byte for byte; float kernels agree within stated tolerances because
 * GPUs differ in float rounding (fused multiply-add, `sqrt`/`cos` precision) and the CPU
 * reference computes in float64.
 */
export interface Comparison {
  ok: boolean;
  /** Values (f32) or pixels (render) compared, and how many were out of tolerance. */
  total: number;
  mismatched: number;
  /** Why not, for logs and disputes. */
  reason?: string;
}

/**
 * Render tiles. A channel agrees when `|a − b| ≤ abs + rel·max(|a|, |b|)`; a pixel agrees when
 * its three channels do; the tile agrees when at least `minAgreeing` of its pixels do and every
 * value is finite and ≥ 0. Why these numbers: a sample whose path does not branch differently
 * differs only by rounding, ~1e−6 relative after a few bounces, far inside 1e−3. A sample whose
 * path does branch (a ray grazing an edge, a draw within rounding of a glass Fresnel threshold)
 * changes that whole sample and moves its pixel's mean by up to L/spp, so such pixels are
 * tolerated, up to 1% of a tile. Passing needs 99% of the pixels right, which needs nearly all
 * the work: a contributor gains nothing by skipping it, and a wrong seed or sample count moves
 * almost every pixel by the image's noise, far outside the tolerance.
 */
export const RENDER_TOLERANCE = { abs: 1e-3, rel: 1e-3, minAgreeing: 0.99 } as const;

export interface F32Tolerance {
  rel_tol: number;
  abs_tol: number;
}

/** Byte equality: the comparator for integer kernels (replicas' digests are compared the same way). */
export function exactEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Compares two render tiles (3 floats a pixel) under `RENDER_TOLERANCE`. */
export function compareRenderTile(
  a: Float32Array,
  b: Float32Array,
  tol: { abs: number; rel: number; minAgreeing: number } = RENDER_TOLERANCE,
): Comparison {
  if (a.length !== b.length || a.length % 3 !== 0)
    return { ok: false, total: 0, mismatched: 0, reason: "tile sizes differ" };
  const pixels = a.length / 3;
  let mismatched = 0;
  for (let p = 0; p < pixels; p++) {
    let agrees = true;
    for (let c = 0; c < 3; c++) {
      const x = a[p * 3 + c] ?? Number.NaN;
      const y = b[p * 3 + c] ?? Number.NaN;
      if (!(x >= 0 && y >= 0 && Number.isFinite(x) && Number.isFinite(y)))
        return {
          ok: false,
          total: pixels,
          mismatched: mismatched + 1,
          reason: `pixel ${p} is not a radiance`,
        };
      if (Math.abs(x - y) > tol.abs + tol.rel * Math.max(x, y)) agrees = false;
    }
    if (!agrees) mismatched++;
  }
  const ok = mismatched <= Math.floor(pixels * (1 - tol.minAgreeing));
  return ok
    ? { ok, total: pixels, mismatched }
    : { ok, total: pixels, mismatched, reason: `${mismatched} of ${pixels} pixels differ` };
}

/**
 * Compares f32 arrays value by value: `|a − b| ≤ abs_tol + rel_tol·max(|a|, |b|)`; two NaNs agree
 * (their bit patterns may differ across GPUs), infinities must be equal, every value must agree.
 */
export function compareF32(a: Float32Array, b: Float32Array, tol: F32Tolerance): Comparison {
  if (a.length !== b.length)
    return { ok: false, total: 0, mismatched: 0, reason: "lengths differ" };
  let mismatched = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? Number.NaN;
    const y = b[i] ?? Number.NaN;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      mismatched++;
      continue;
    }
    if (!(Math.abs(x - y) <= tol.abs_tol + tol.rel_tol * Math.max(Math.abs(x), Math.abs(y))))
      mismatched++;
  }
  return mismatched === 0
    ? { ok: true, total: a.length, mismatched }
    : {
        ok: false,
        total: a.length,
        mismatched,
        reason: `${mismatched} of ${a.length} values differ`,
      };
}

/** Little-endian f32 view of result bytes (copied, so alignment never matters). */
export function f32FromBytes(bytes: Uint8Array): Float32Array | null {
  if (bytes.length % 4 !== 0) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/**
 * Compares two task results as uploaded (bytes) under the job kind's comparator: render tiles are
 * little-endian f32 RGB; inference outputs are int8 (exact); a wgsl task's result is its output
 * buffers concatenated in the order of the spec's `outputs`, compared exactly or as f32.
 */
export function compareOutputs(spec: JobSpec, a: Uint8Array, b: Uint8Array): Comparison {
  const exact = (): Comparison =>
    exactEqual(a, b)
      ? { ok: true, total: a.length, mismatched: 0 }
      : { ok: false, total: a.length, mismatched: 1, reason: "bytes differ" };
  if (spec.kind === "inference" || (spec.kind === "wgsl" && spec.comparator.type === "exact"))
    return exact();
  const fa = f32FromBytes(a);
  const fb = f32FromBytes(b);
  if (!fa || !fb)
    return { ok: false, total: 0, mismatched: 0, reason: "not a whole number of f32 values" };
  if (spec.kind === "render") return compareRenderTile(fa, fb);
  if (spec.comparator.type === "f32") return compareF32(fa, fb, spec.comparator);
  return exact();
}
