import type { Material } from "../../../protocol/scene.ts";
import { counter, draw } from "./rng.ts";
import { add, along, dot, neg, normalize, reflect, type Vec3 } from "./vec.ts";

/**
 * What a surface does with a ray. `n` is the unit normal already flipped to face the incoming
 * ray (`d·n ≤ 0`); `front` says whether the ray arrived on the side the geometric normal points
 * to (for glass: entering rather than leaving). The result is the next direction and the factor
 * the path's throughput is multiplied by, or `null` when the path ends here (absorbed).
 * Emissive surfaces are handled by the caller: they add their radiance and end the path.
 */
export interface Scatter {
  direction: Vec3;
  attenuation: Vec3;
}

const WHITE: Vec3 = [1, 1, 1];

/**
 * A uniform random point on the unit sphere from two draws u0, u1:
 * `z = 1 − 2·u0, r = sqrt(max(0, 1 − z²)), φ = 2π·u1 → (r·cos φ, r·sin φ, z)`.
 */
export function unitSphere(u0: number, u1: number): Vec3 {
  const z = 1 - 2 * u0;
  const r = Math.sqrt(Math.max(0, 1 - z * z));
  const phi = 2 * Math.PI * u1;
  return [r * Math.cos(phi), r * Math.sin(phi), z];
}

export function scatter(
  m: Material,
  d: Vec3,
  n: Vec3,
  front: boolean,
  key: number,
  bounce: number,
): Scatter | null {
  switch (m.type) {
    case "diffuse": {
      // n + uniform sphere point = cosine-weighted hemisphere direction (Lambertian).
      const s = unitSphere(draw(key, counter(bounce, 0)), draw(key, counter(bounce, 1)));
      const w = add(n, s);
      return { direction: dot(w, w) < 1e-12 ? n : normalize(w), attenuation: m.albedo };
    }
    case "metal": {
      const s = unitSphere(draw(key, counter(bounce, 0)), draw(key, counter(bounce, 1)));
      const w = along(reflect(d, n), s, m.fuzz);
      if (dot(w, w) < 1e-12) return null;
      const direction = normalize(w);
      // Fuzz that points the reflection into the surface absorbs the ray.
      if (dot(direction, n) <= 0) return null;
      return { direction, attenuation: m.albedo };
    }
    case "glass": {
      const eta = front ? 1 / m.ior : m.ior;
      const cos = Math.min(-dot(d, n), 1);
      const sin = Math.sqrt(Math.max(0, 1 - cos * cos));
      const r0 = ((1 - eta) / (1 + eta)) ** 2;
      const fresnel = r0 + (1 - r0) * (1 - cos) ** 5; // Schlick's approximation
      if (eta * sin > 1 || draw(key, counter(bounce, 2)) < fresnel)
        return { direction: reflect(d, n), attenuation: WHITE };
      const perp = along(d, n, cos); // d + cos·n
      const perpScaled: Vec3 = [perp[0] * eta, perp[1] * eta, perp[2] * eta];
      const par = Math.sqrt(Math.abs(1 - dot(perpScaled, perpScaled)));
      return { direction: normalize(along(perpScaled, neg(n), par)), attenuation: WHITE };
    }
    case "emissive":
      return null;
  }
}
