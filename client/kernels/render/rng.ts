/**
 * The render kernel's random numbers: counter-based, so every random number is a pure function
 * of (job seed, pixel, sample, bounce, dimension) and any GPU that implements these few lines of
 * u32 arithmetic draws exactly the same numbers as this reference, whatever order it runs in.
 *
 * All arithmetic is on u32 and wraps modulo 2^32:
 *
 *   pcg(v)   = let s = v·747796405 + 2891336453;
 *              let w = ((s >> ((s >> 28) + 4)) ^ s) · 277803737;
 *              (w >> 22) ^ w
 *   key      = pcg(pcg(pcg(seed) + pixel) + sample)
 *   draw(k)  = pcg(key + k)
 *   unit(u)  = (u >> 8) · 2^−24            (exactly representable in f32, in [0, 1))
 *
 * `pixel = y · width + x` in the whole image (not the tile), `sample` is the absolute sample
 * index in `[0, samples_per_pixel)`. Counter `k` names what the number is for:
 * `k = 0, 1` jitter the camera ray in x and y; the b-th surface hit (b = 0 for the surface the
 * camera ray hits) uses `k = 4(b + 1) + d` with `d = 0, 1` for the scatter direction and `d = 2`
 * for glass's reflect-or-refract choice. `pcg` is the PCG-RXS-M-XS hash of Jarzynski and Olano,
 * "Hash Functions for GPU Rendering", JCGT 9(3), 2020.
 */
export function pcg(v: number): number {
  const s = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The per-sample key: `pcg(pcg(pcg(seed) + pixel) + sample)`. */
export function sampleKey(seed: number, pixel: number, sample: number): number {
  return pcg((pcg((pcg(seed >>> 0) + pixel) >>> 0) + sample) >>> 0);
}

/** Counter of the camera jitter in x (`+1` for y). */
export const JITTER = 0;

/** Counter for dimension `d` (0..3) at the b-th surface hit. */
export function counter(bounce: number, d: number): number {
  return 4 * (bounce + 1) + d;
}

/** A uniform number in [0, 1) with 24 bits: `unit(pcg(key + k))`. */
export function draw(key: number, k: number): number {
  return (pcg((key + k) >>> 0) >>> 8) * 2 ** -24;
}
