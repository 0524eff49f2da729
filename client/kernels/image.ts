/**
 * Turning render tiles into the final image, done by the server once every tile is accepted:
 * assemble (sample blocks of the same pixel are averaged, weighted by their sample counts),
 * then tone-map to 8-bit sRGB.
 */

/** One accepted render task: its rectangle, how many samples it averaged, and its floats. */
export interface TilePart {
  tile: { x: number; y: number; width: number; height: number };
  samples: { count: number };
  pixels: Float32Array;
}

/**
 * The full image's linear RGB (3 floats a pixel, row-major) from tiles and sample blocks:
 * `pixel = Σ mean_i·count_i / Σ count_i` over the parts covering it, in float64. With one part
 * per pixel the value is copied bit for bit. Throws if a pixel is covered by no part.
 */
export function assembleTiles(
  width: number,
  height: number,
  parts: readonly TilePart[],
): Float32Array {
  const sum = new Float64Array(width * height * 3);
  const count = new Float64Array(width * height);
  for (const { tile, samples, pixels } of parts) {
    if (pixels.length !== tile.width * tile.height * 3)
      throw new RangeError(
        `a ${tile.width}×${tile.height} tile needs ${tile.width * tile.height * 3} floats`,
      );
    if (tile.x < 0 || tile.y < 0 || tile.x + tile.width > width || tile.y + tile.height > height)
      throw new RangeError("tile lies outside the image");
    for (let ty = 0; ty < tile.height; ty++) {
      for (let tx = 0; tx < tile.width; tx++) {
        const p = (tile.y + ty) * width + tile.x + tx;
        const i = (ty * tile.width + tx) * 3;
        for (let c = 0; c < 3; c++)
          sum[p * 3 + c] = (sum[p * 3 + c] ?? 0) + (pixels[i + c] ?? 0) * samples.count;
        count[p] = (count[p] ?? 0) + samples.count;
      }
    }
  }
  const out = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const n = count[p] ?? 0;
    if (n === 0) throw new RangeError(`pixel ${p % width},${Math.floor(p / width)} has no samples`);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = (sum[p * 3 + c] ?? 0) / n;
  }
  return out;
}

/**
 * Linear RGB → RGBA8: each channel is clamped to [0, 1] (NaN → 0), encoded with the sRGB
 * transfer function (IEC 61966-2-1: `12.92·c` for `c ≤ 0.0031308`, else
 * `1.055·c^(1/2.4) − 0.055`) and rounded to the nearest of 0..255; alpha is 255. Clamping is the
 * whole tone map: scenes choose their exposure through light and sky radiance.
 */
export function toRgba8(linear: Float32Array): Uint8Array {
  const pixels = linear.length / 3;
  const out = new Uint8Array(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = Math.round(255 * srgb(linear[p * 3 + c] ?? 0));
    out[p * 4 + 3] = 255;
  }
  return out;
}

function srgb(v: number): number {
  const c = v > 0 ? Math.min(v, 1) : 0;
  return c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
}
