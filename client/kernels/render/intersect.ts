import type { Material, Scene } from "../../../protocol/scene.ts";
import { cross, dot, normalize, sub, type Vec3 } from "./vec.ts";

/**
 * Ray–scene intersection for the reference path tracer. The rules a GPU kernel must share:
 * - the nearest hit with `t > tMin` wins; on an exact tie the earlier primitive wins, in the
 *   order spheres, planes, then each mesh's triangles in order;
 * - spheres report their outward normal, planes their given normal (normalized), triangles
 *   `normalize((v1 − v0) × (v2 − v0))`; every surface is two-sided (the shader flips the normal
 *   to face the ray);
 * - planes parallel to the ray (`|n·d| < 1e−9`) and triangles with `|det| < 1e−12`
 *   (Möller–Trumbore) are missed.
 */
export interface Hit {
  t: number;
  /** Geometric normal, unit length, not yet flipped toward the ray. */
  normal: Vec3;
  material: Material;
}

interface Triangle {
  v0: Vec3;
  e1: Vec3;
  e2: Vec3;
  normal: Vec3;
  material: Material;
}

/** A scene with plane normals normalized and meshes flattened into triangles, built once. */
export interface PreparedScene {
  spheres: { center: Vec3; radius: number; material: Material }[];
  planes: { point: Vec3; normal: Vec3; material: Material }[];
  triangles: Triangle[];
}

const prepared = new WeakMap<Scene, PreparedScene>();

export function prepareScene(scene: Scene): PreparedScene {
  const cached = prepared.get(scene);
  if (cached) return cached;
  const material = (i: number): Material => {
    const m = scene.materials[i];
    if (!m) throw new RangeError(`material ${i} does not exist`);
    return m;
  };
  const triangles: Triangle[] = [];
  for (const mesh of scene.meshes) {
    for (const [a, b, c] of mesh.triangles) {
      const v0 = vertex(mesh.positions, a);
      const e1 = sub(vertex(mesh.positions, b), v0);
      const e2 = sub(vertex(mesh.positions, c), v0);
      const n = cross(e1, e2);
      // A degenerate triangle is never hit (det = 0), so its normal is never read.
      const normal = dot(n, n) > 0 ? normalize(n) : ([0, 1, 0] as const);
      triangles.push({ v0, e1, e2, normal, material: material(mesh.material) });
    }
  }
  const out: PreparedScene = {
    spheres: scene.spheres.map((s) => ({ ...s, material: material(s.material) })),
    planes: scene.planes.map((p) => ({
      point: p.point,
      normal: normalize(p.normal),
      material: material(p.material),
    })),
    triangles,
  };
  prepared.set(scene, out);
  return out;
}

function vertex(positions: readonly Vec3[], i: number): Vec3 {
  const v = positions[i];
  if (!v) throw new RangeError(`vertex ${i} does not exist`);
  return v;
}

/** The nearest hit of the ray `o + t·d` (d unit length) with `t > tMin`, or `null`. */
export function intersect(scene: PreparedScene, o: Vec3, d: Vec3, tMin: number): Hit | null {
  let best = Number.POSITIVE_INFINITY;
  let hit: Hit | null = null;
  for (const s of scene.spheres) {
    const oc = sub(o, s.center);
    const b = dot(oc, d);
    const disc = b * b - (dot(oc, oc) - s.radius * s.radius);
    if (disc < 0) continue;
    const root = Math.sqrt(disc);
    let t = -b - root;
    if (t <= tMin) t = -b + root;
    if (t <= tMin || t >= best) continue;
    best = t;
    const p: Vec3 = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
    const inv = 1 / s.radius;
    hit = {
      t,
      normal: [(p[0] - s.center[0]) * inv, (p[1] - s.center[1]) * inv, (p[2] - s.center[2]) * inv],
      material: s.material,
    };
  }
  for (const pl of scene.planes) {
    const denom = dot(pl.normal, d);
    if (Math.abs(denom) < 1e-9) continue;
    const t = dot(sub(pl.point, o), pl.normal) / denom;
    if (t <= tMin || t >= best) continue;
    best = t;
    hit = { t, normal: pl.normal, material: pl.material };
  }
  for (const tri of scene.triangles) {
    const p = cross(d, tri.e2);
    const det = dot(tri.e1, p);
    if (Math.abs(det) < 1e-12) continue;
    const inv = 1 / det;
    const tv = sub(o, tri.v0);
    const u = dot(tv, p) * inv;
    if (u < 0 || u > 1) continue;
    const q = cross(tv, tri.e1);
    const v = dot(d, q) * inv;
    if (v < 0 || u + v > 1) continue;
    const t = dot(tri.e2, q) * inv;
    if (t <= tMin || t >= best) continue;
    best = t;
    hit = { t, normal: tri.normal, material: tri.material };
  }
  return hit;
}
