import { beforeAll, describe, expect, it } from "vitest";
import { blake3, createHasher, deriveKey, init, keyedHash } from "./index.ts";
import { toHex, VECTOR_CASES, VECTOR_CONTEXT, VECTOR_KEY, vectorInput } from "./test-vectors.ts";

beforeAll(() => init());

describe("official BLAKE3 test vectors (Node)", () => {
  it("has all 35 cases", () => {
    expect(VECTOR_CASES).toHaveLength(35);
  });

  for (const c of VECTOR_CASES) {
    const outLength = c.hash.length / 2;
    it(`input_len ${c.input_len}: hash, keyed_hash, derive_key with extended output`, () => {
      const input = vectorInput(c.input_len);
      expect(toHex(blake3(input, outLength))).toBe(c.hash);
      expect(toHex(keyedHash(VECTOR_KEY, input, outLength))).toBe(c.keyed_hash);
      expect(toHex(deriveKey(VECTOR_CONTEXT, input, outLength))).toBe(c.derive_key);
      // The default output is the first 32 bytes of the extended output.
      expect(toHex(blake3(input))).toBe(c.hash.slice(0, 64));
    });

    it(`input_len ${c.input_len}: streaming in 1, 63 and 1000-byte pieces`, () => {
      const input = vectorInput(c.input_len);
      for (const piece of [1, 63, 1000]) {
        const hasher = createHasher({ key: VECTOR_KEY });
        for (let i = 0; i < input.length; i += piece) hasher.update(input.subarray(i, i + piece));
        expect(toHex(hasher.digest(outLength))).toBe(c.keyed_hash);
        const derived = createHasher({ context: VECTOR_CONTEXT });
        for (let i = 0; i < input.length; i += piece) derived.update(input.subarray(i, i + piece));
        expect(toHex(derived.digest(outLength))).toBe(c.derive_key);
      }
    });
  }
});
