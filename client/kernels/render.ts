import type { RenderSpec } from "../../protocol/jobs.ts";
import { intersect, type PreparedScene, prepareScene } from "./render/intersect.ts";
import { scatter } from "./render/material.ts";
import { draw, JITTER, sampleKey } from "./render/rng.ts";
import { along, cross, dot, mul, neg, normalize, sub, type Vec3 } from "./render/vec.ts";

/**
 * The `render` kind's meaning: a deterministic CPU path tracer. Every sample of every pixel is
 * a pure function of the spec, the pixel and the sample index (random numbers come from
 * `render/rng.ts`), so a tile can be traced anywhere, in any order, and two honest machines
 * agree up to floating-point rounding. `docs/kernels.md` states the model for WGSL ports.
 */

/** A rectangle of pixels and a range of samples: the render slice of a task. */
export interface RenderTile {
  x: number;
  y: number;
  width: number;
  height: number;
  sampleStart: number;
  sampleCount: number;
}

interface Camera {
  origin: Vec3;
  forward: Vec3;
  right: Vec3;
  up: Vec3;
  halfHeight: number;
  halfWidth: number;
}

/**
 * Traces `tile` and returns its linear RGB, 3 floats a pixel, row-major within the tile: each
 * value is the mean of the tile's samples, summed in float64 in sample order, then rounded to
 * f32. Example: `renderTile(spec, { x: 0, y: 0, width: spec.width, height: spec.height,
 * sampleStart: 0, sampleCount: spec.samples_per_pixel })` renders the whole image.
 */
export function renderTile(spec: RenderSpec, tile: RenderTile): Float32Array {
  if (
    tile.x < 0 ||
    tile.y < 0 ||
    tile.x + tile.width > spec.width ||
    tile.y + tile.height > spec.height ||
    tile.sampleCount < 1 ||
    tile.sampleStart + tile.sampleCount > spec.samples_per_pixel
  )
    throw new RangeError("tile lies outside the image or its samples");
  const scene = prepareScene(spec.scene);
  const camera = makeCamera(spec);
  const out = new Float32Array(tile.width * tile.height * 3);
  for (let ty = 0; ty < tile.height; ty++) {
    for (let tx = 0; tx < tile.width; tx++) {
      const x = tile.x + tx;
      const y = tile.y + ty;
      const pixel = y * spec.width + x;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let s = tile.sampleStart; s < tile.sampleStart + tile.sampleCount; s++) {
        const key = sampleKey(spec.seed, pixel, s);
        const c = tracePath(spec, scene, cameraRay(camera, spec, x, y, key), key);
        r += c[0];
        g += c[1];
        b += c[2];
      }
      const i = (ty * tile.width + tx) * 3;
      out[i] = r / tile.sampleCount;
      out[i + 1] = g / tile.sampleCount;
      out[i + 2] = b / tile.sampleCount;
    }
  }
  return out;
}

/**
 * A pinhole camera: `forward = normalize(look_at − position)`, `right = normalize(forward × up)`,
 * `up' = right × forward`; the image plane at distance 1 spans `±tan(vfov/2)` vertically and
 * `±tan(vfov/2)·width/height` horizontally.
 */
function makeCamera(spec: RenderSpec): Camera {
  const { position, look_at, up, vfov } = spec.scene.camera;
  const forward = normalize(sub(look_at, position));
  const right = normalize(cross(forward, up));
  const halfHeight = Math.tan((vfov * Math.PI) / 360);
  return {
    origin: position,
    forward,
    right,
    up: cross(right, forward),
    halfHeight,
    halfWidth: (halfHeight * spec.width) / spec.height,
  };
}

/**
 * The camera ray through pixel (x, y) (y = 0 at the top) jittered by draws `k = 0, 1`:
 * `sx = (2(x + u0)/width − 1)·halfWidth`, `sy = (1 − 2(y + u1)/height)·halfHeight`,
 * `d = normalize(forward + sx·right + sy·up')`.
 */
function cameraRay(c: Camera, spec: RenderSpec, x: number, y: number, key: number): Vec3 {
  const sx = ((2 * (x + draw(key, JITTER))) / spec.width - 1) * c.halfWidth;
  const sy = (1 - (2 * (y + draw(key, JITTER + 1))) / spec.height) * c.halfHeight;
  return normalize(along(along(c.forward, c.right, sx), c.up, sy));
}

/**
 * Follows one path: at most `max_bounces + 1` rays (the camera ray and up to `max_bounces`
 * scattered rays). A miss adds `throughput × sky(d)`, an emissive hit adds `throughput ×
 * radiance`; both end the path, as does absorption or running out of bounces. New rays start at
 * the hit point; self-hits are avoided by `tMin = 1e−4·(1 + max|origin component|)`.
 */
function tracePath(spec: RenderSpec, scene: PreparedScene, dir: Vec3, key: number): Vec3 {
  let origin: Vec3 = spec.scene.camera.position;
  let d = dir;
  let throughput: Vec3 = [1, 1, 1];
  for (let bounce = 0; ; bounce++) {
    const tMin =
      1e-4 * (1 + Math.max(Math.abs(origin[0]), Math.abs(origin[1]), Math.abs(origin[2])));
    const hit = intersect(scene, origin, d, tMin);
    if (!hit) return mul(throughput, sky(spec, d));
    if (hit.material.type === "emissive") return mul(throughput, hit.material.radiance);
    if (bounce === spec.max_bounces) return [0, 0, 0];
    const front = dot(d, hit.normal) < 0;
    const n = front ? hit.normal : neg(hit.normal);
    const next = scatter(hit.material, d, n, front, key, bounce);
    if (!next) return [0, 0, 0];
    origin = along(origin, d, hit.t);
    d = next.direction;
    throughput = mul(throughput, next.attenuation);
  }
}

/** `sky(d) = bottom + (top − bottom)·(d.y + 1)/2`: a vertical gradient. */
function sky(spec: RenderSpec, d: Vec3): Vec3 {
  const { top, bottom } = spec.scene.sky;
  const f = (d[1] + 1) / 2;
  return [
    bottom[0] + (top[0] - bottom[0]) * f,
    bottom[1] + (top[1] - bottom[1]) * f,
    bottom[2] + (top[2] - bottom[2]) * f,
  ];
}
