import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import fc from "fast-check";
import { createBLAKE3 } from "hash-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { blake3, createHasher, deriveKey, init, keyedHash } from "./index.ts";
import { boundaryLength, randomBytes } from "./test-data.ts";

// Two independent implementations: @noble/hashes (pure JS) for everything up to 1 MiB, and
// hash-wasm (C compiled to wasm, much faster) for the multi-MiB cases.
let hashWasm: Awaited<ReturnType<typeof createBLAKE3>>;
beforeAll(async () => {
  await init();
  hashWasm = await createBLAKE3();
});

function reference(data: Uint8Array): Uint8Array {
  if (data.length <= 1 << 20) return nobleBlake3(data);
  hashWasm.init();
  hashWasm.update(data);
  return hashWasm.digest("binary");
}

/** Feeds `data` to `update` in pieces whose sizes cycle through `pieces`. */
function feed(update: (piece: Uint8Array) => void, data: Uint8Array, pieces: number[]): void {
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = pieces[i % pieces.length] as number;
    update(data.subarray(at, at + size));
    at += size;
  }
}

const pieceSizes = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 5000 }), fc.constant(0)),
  { minLength: 1, maxLength: 12 },
);
const nonEmpty = (pieces: number[]) => (pieces.some((p) => p > 0) ? pieces : [...pieces, 1]);

describe("blake3 against independent implementations", () => {
  it("one-shot and streaming hashes agree on boundary-biased lengths up to 4 MiB", () => {
    fc.assert(
      fc.property(boundaryLength(22), fc.integer(), pieceSizes, (length, seed, pieces) => {
        const data = randomBytes(length, seed);
        const expected = reference(data);
        expect(blake3(data)).toEqual(expected);
        const hasher = createHasher();
        feed((p) => hasher.update(p), data, nonEmpty(pieces));
        expect(hasher.digest()).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("keyed hash, key derivation and extended output agree with @noble/hashes", () => {
    const lengths = boundaryLength(15);
    fc.assert(
      fc.property(lengths, fc.integer(), fc.integer({ min: 0, max: 300 }), (length, seed, out) => {
        const data = randomBytes(length, seed);
        const key = randomBytes(32, seed ^ 0x5bd1e995);
        const context = `tessera ${seed} test context`;
        const contextBytes = new TextEncoder().encode(context);
        expect(blake3(data, out)).toEqual(nobleBlake3(data, { dkLen: out }));
        expect(keyedHash(key, data, out)).toEqual(nobleBlake3(data, { key, dkLen: out }));
        expect(deriveKey(context, data, out)).toEqual(
          nobleBlake3(data, { context: contextBytes, dkLen: out }),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("uniformly random lengths from 0 to 10 MiB, one-shot and streamed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 << 20 }), fc.integer(), (length, seed) => {
        const data = randomBytes(length, seed);
        const expected = reference(data);
        expect(blake3(data)).toEqual(expected);
        const hasher = createHasher();
        feed((p) => hasher.update(p), data, [(seed & 0xfffff) + 1, 777]);
        expect(hasher.digest()).toEqual(expected);
      }),
      { numRuns: 12 },
    );
  });

  it("fixed multi-MiB inputs up to 10 MiB, one-shot and in odd pieces", () => {
    const mib = 1 << 20;
    const lengths = [10 * mib, 10 * mib - 1, 8 * mib + 1, 5 * mib + 1023, 3 * mib + 4097];
    lengths.forEach((length, i) => {
      const data = randomBytes(length, 1000 + i);
      const expected = reference(data);
      expect(blake3(data)).toEqual(expected);
      const hasher = createHasher();
      feed((p) => hasher.update(p), data, [mib + 17, 3, 65_536, 1_000_003, 1024]);
      expect(hasher.digest()).toEqual(expected);
    });
  });

  it("digest does not consume the hasher: it can continue and digest again", () => {
    const data = randomBytes(5000, 7);
    const hasher = createHasher();
    hasher.update(data.subarray(0, 3000));
    expect(hasher.digest()).toEqual(nobleBlake3(data.subarray(0, 3000)));
    hasher.update(data.subarray(3000));
    expect(hasher.digest()).toEqual(nobleBlake3(data));
    expect(hasher.digest(100)).toEqual(nobleBlake3(data, { dkLen: 100 }));
  });

  it("interleaved hashers with different keys do not disturb each other", () => {
    const key = randomBytes(32, 99);
    const data = randomBytes(20_000, 5);
    const plain = createHasher();
    const keyed = createHasher({ key });
    const derived = createHasher({ context: "ctx" });
    feed(
      (p) => {
        plain.update(p);
        keyed.update(p);
        derived.update(p);
      },
      data,
      [1500, 1, 4096],
    );
    expect(plain.digest()).toEqual(nobleBlake3(data));
    expect(keyed.digest()).toEqual(nobleBlake3(data, { key }));
    const context = new TextEncoder().encode("ctx");
    expect(derived.digest()).toEqual(nobleBlake3(data, { context }));
  });

  it("rejects bad keys, bad output lengths and conflicting options", () => {
    expect(() => keyedHash(new Uint8Array(31), new Uint8Array(1))).toThrow(RangeError);
    expect(() => blake3(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => createHasher({ key: new Uint8Array(32), context: "x" })).toThrow(TypeError);
    expect(blake3(new Uint8Array(3), 0)).toEqual(new Uint8Array(0));
  });
});
