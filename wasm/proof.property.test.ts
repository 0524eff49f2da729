import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  blake3,
  init,
  outboard,
  PROOF_VERSION,
  prove,
  proveFromOutboard,
  verify,
} from "./index.ts";
import { boundaryLength, randomBytes } from "./test-data.ts";

beforeAll(() => init());

const CHUNK = 1024;
const chunksOf = (length: number) => Math.max(1, Math.ceil(length / CHUNK));
const sliceOf = (data: Uint8Array, first: number, count: number) =>
  data.subarray(first * CHUNK, Math.min((first + count) * CHUNK, data.length));

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

/** A file plus a chunk range inside it, with ranges biased toward the file's two ends. */
const fileAndRange = fc.tuple(boundaryLength(18), fc.integer()).chain(([length, seed]) => {
  const chunks = chunksOf(length);
  const first = fc.oneof(
    fc.integer({ min: 0, max: chunks - 1 }),
    fc.constant(0),
    fc.constant(chunks - 1),
  );
  return first.chain((f) =>
    fc
      .oneof(fc.constant(1), fc.integer({ min: 1, max: chunks - f }))
      .map((count) => ({ length, seed, first: f, count })),
  );
});

describe("chunk range proofs", () => {
  it("honest proofs verify; prove and proveFromOutboard agree; the outboard holds the root", () => {
    fc.assert(
      fc.property(fileAndRange, ({ length, seed, first, count }) => {
        const data = randomBytes(length, seed);
        const root = blake3(data);
        const tree = outboard(data);
        const chunks = chunksOf(length);
        const slots = (2 * chunks - 1) * 32;
        expect(tree.length).toBe(slots + length - (chunks - 1) * CHUNK);
        const rootSlot = chunks === 1 ? 0 : 2 * 2 ** Math.ceil(Math.log2(chunks) - 1) - 1;
        expect(tree.subarray(rootSlot * 32, rootSlot * 32 + 32)).toEqual(root);
        const proof = prove(data, first, count);
        expect(proveFromOutboard(tree, length, first, count)).toEqual(proof);
        expect(proof[0]).toBe(PROOF_VERSION);
        expect(verify(root, length, first, sliceOf(data, first, count), proof)).toBe(true);
      }),
      { numRuns: 250 },
    );
  });

  it("rejects a flipped bit in the chunks, the proof or the root, and wrong lengths or indices", () => {
    fc.assert(
      fc.property(fileAndRange, fc.nat(), ({ length, seed, first, count }, pick) => {
        const data = randomBytes(length, seed);
        const root = blake3(data);
        const proof = prove(data, first, count);
        const chunks = sliceOf(data, first, count);
        const ok = (r: Uint8Array, len: number, f: number, c: Uint8Array, p: Uint8Array) =>
          verify(r, len, f, c, p);
        if (chunks.length > 0) {
          expect(ok(root, length, first, flipBit(chunks, pick % (chunks.length * 8)), proof)).toBe(
            false,
          );
        }
        expect(ok(root, length, first, chunks, flipBit(proof, pick % (proof.length * 8)))).toBe(
          false,
        );
        expect(ok(flipBit(root, pick % 256), length, first, chunks, proof)).toBe(false);
        for (const delta of [-CHUNK, -64, -1, 1, 64, CHUNK, 7 * CHUNK + 3]) {
          if (length + delta >= 0)
            expect(ok(root, length + delta, first, chunks, proof)).toBe(false);
        }
        for (const wrong of [first - 1, first + 1, first + 2 ** 20, -0.5, Number.NaN]) {
          expect(ok(root, length, wrong, chunks, proof)).toBe(false);
        }
        const longer = new Uint8Array(chunks.length + 1);
        longer.set(chunks);
        expect(ok(root, length, first, longer, proof)).toBe(false);
        if (chunks.length > 0) {
          expect(ok(root, length, first, chunks.subarray(1), proof)).toBe(false);
          expect(ok(root, length, first, chunks.subarray(0, chunks.length - 1), proof)).toBe(false);
        }
        expect(ok(root, length, first, chunks, proof.subarray(0, proof.length - 1))).toBe(false);
        const extended = new Uint8Array(proof.length + 32);
        extended.set(proof);
        expect(ok(root, length, first, chunks, extended)).toBe(false);
      }),
      { numRuns: 250 },
    );
  });

  it("rejects every single-bit flip of a proof, its root and its chunk (exhaustive)", () => {
    const length = 37 * CHUNK + 300;
    const data = randomBytes(length, 42);
    const root = blake3(data);
    for (const first of [0, 17, 37]) {
      const proof = prove(data, first);
      const chunk = sliceOf(data, first, 1);
      expect(verify(root, length, first, chunk, proof)).toBe(true);
      for (let bit = 0; bit < proof.length * 8; bit++) {
        expect(verify(root, length, first, chunk, flipBit(proof, bit))).toBe(false);
      }
      for (let bit = 0; bit < chunk.length * 8; bit++) {
        expect(verify(root, length, first, flipBit(chunk, bit), proof)).toBe(false);
      }
      for (let bit = 0; bit < 256; bit++) {
        expect(verify(flipBit(root, bit), length, first, chunk, proof)).toBe(false);
      }
    }
  });

  it("covers the edge shapes: empty file, one chunk, the whole file, a proof for another range", () => {
    const empty = new Uint8Array(0);
    const emptyProof = prove(empty, 0);
    expect(emptyProof).toEqual(new Uint8Array([PROOF_VERSION]));
    expect(verify(blake3(empty), 0, 0, empty, emptyProof)).toBe(true);
    expect(outboard(empty)).toEqual(blake3(empty));

    const data = randomBytes(9 * CHUNK + 5, 3);
    const root = blake3(data);
    const whole = prove(data, 0, 10);
    expect(whole).toEqual(new Uint8Array([PROOF_VERSION]));
    expect(verify(root, data.length, 0, data, whole)).toBe(true);
    // A proof is bound to its range: chunk 4's proof does not vouch for chunk 5.
    expect(verify(root, data.length, 5, sliceOf(data, 5, 1), prove(data, 4))).toBe(false);
    expect(verify(root, data.length, 4, sliceOf(data, 4, 1), prove(data, 4))).toBe(true);
  });

  it("refuses to build proofs for ranges outside the file", () => {
    const data = randomBytes(3000, 1);
    const tree = outboard(data);
    for (const [first, count] of [
      [-1, 1],
      [3, 1],
      [2, 2],
      [0, 0],
      [0.5, 1],
    ] as const) {
      expect(() => prove(data, first, count)).toThrow(RangeError);
      expect(() => proveFromOutboard(tree, data.length, first, count)).toThrow(RangeError);
    }
    expect(() => proveFromOutboard(tree, data.length + 1, 0)).toThrow(RangeError);
  });

  it("proves ranges of a 5 MiB file from its outboard", () => {
    const length = 5 * (1 << 20) + 333;
    const data = randomBytes(length, 11);
    const root = blake3(data);
    const tree = outboard(data);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: chunksOf(length) - 1 }), fc.nat(40), (first, extra) => {
        const count = Math.min(1 + extra, chunksOf(length) - first);
        const proof = proveFromOutboard(tree, length, first, count);
        expect(verify(root, length, first, sliceOf(data, first, count), proof)).toBe(true);
      }),
      { numRuns: 100 },
    );
    expect(prove(data, 2000, 3)).toEqual(proveFromOutboard(tree, length, 2000, 3));
  });
});
