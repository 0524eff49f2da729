/**
 * Three-component vectors for the CPU path tracer. Plain tuples in float64: the reference is
 * the meaning, not the fast path; GPUs compute the same formulas in f32 and the render
 * comparator absorbs the difference (see `../compare.ts`).
 */
export type Vec3 = readonly [number, number, number];

export const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const mul = (a: Vec3, b: Vec3): Vec3 => [a[0] * b[0], a[1] * b[1], a[2] * b[2]];
export const scale = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const neg = (a: Vec3): Vec3 => [-a[0], -a[1], -a[2]];

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** `a / |a|`; callers make sure `a` is not zero (the scene schema refuses zero normals). */
export function normalize(a: Vec3): Vec3 {
  return scale(a, 1 / Math.sqrt(dot(a, a)));
}

/** `a + t·b`: a point along a ray. */
export const along = (a: Vec3, b: Vec3, t: number): Vec3 => [
  a[0] + t * b[0],
  a[1] + t * b[1],
  a[2] + t * b[2],
];

/** Mirror reflection of direction `d` about unit normal `n`: `d − 2(d·n)n`. */
export const reflect = (d: Vec3, n: Vec3): Vec3 => along(d, n, -2 * dot(d, n));
