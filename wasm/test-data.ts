// Test inputs: fast seeded pseudo-random bytes (fast-check's byte arrays are too slow for MiBs)
// and lengths biased toward the places BLAKE3 implementations get wrong.
import fc from "fast-check";

/** Deterministic bytes from `seed` (xorshift32), so a failing case replays exactly. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, length);
}

const around = (base: number, spread: number) =>
  fc.integer({ min: -spread, max: spread }).map((d) => Math.max(0, base + d));

/**
 * Lengths up to `maxLog2` powers of two: every block (64 B) and chunk (1 KiB) boundary of the
 * first chunks, chunk multiples, powers of two, and uniform lengths, each +/- a few bytes.
 */
export function boundaryLength(maxLog2: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.integer({ min: 0, max: 32 }).chain((b) => around(b * 64, 1)),
    fc.integer({ min: 0, max: 80 }).chain((n) => around(n * 1024, 2)),
    fc.integer({ min: 0, max: maxLog2 }).chain((k) => around(2 ** k, 2)),
    fc.integer({ min: 0, max: maxLog2 }).chain((k) => around(2 ** k + 1024, 1)),
    fc.integer({ min: 0, max: 2 ** maxLog2 }),
  );
}
