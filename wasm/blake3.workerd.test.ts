// The same module inside workerd, where WebAssembly cannot be compiled from bytes at run time:
// init() must find the precompiled `.wasm` import, and every official vector must still pass.
import { beforeAll, describe, expect, it } from "vitest";
import {
  blake3,
  createHasher,
  deriveKey,
  init,
  keyedHash,
  outboard,
  prove,
  proveFromOutboard,
  verify,
} from "./index.ts";
import { randomBytes } from "./test-data.ts";
import { toHex, VECTOR_CASES, VECTOR_CONTEXT, VECTOR_KEY, vectorInput } from "./test-vectors.ts";

beforeAll(() => init());

describe("BLAKE3 inside workerd", () => {
  it("runs in workerd, where runtime compilation from bytes is refused", async () => {
    expect(navigator.userAgent).toBe("Cloudflare-Workers");
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    await expect(WebAssembly.compile(bytes)).rejects.toThrow();
  });

  it("passes every official test vector in all three modes with extended output", () => {
    expect(VECTOR_CASES).toHaveLength(35);
    for (const c of VECTOR_CASES) {
      const input = vectorInput(c.input_len);
      const outLength = c.hash.length / 2;
      expect(toHex(blake3(input, outLength))).toBe(c.hash);
      expect(toHex(keyedHash(VECTOR_KEY, input, outLength))).toBe(c.keyed_hash);
      expect(toHex(deriveKey(VECTOR_CONTEXT, input, outLength))).toBe(c.derive_key);
      const hasher = createHasher();
      for (let i = 0; i < input.length; i += 333) hasher.update(input.subarray(i, i + 333));
      expect(toHex(hasher.digest(outLength))).toBe(c.hash);
    }
  });

  it("proves and verifies chunk ranges", () => {
    const data = randomBytes(300_000, 9);
    const root = blake3(data);
    const tree = outboard(data);
    for (const first of [0, 100, 292]) {
      const proof = proveFromOutboard(tree, data.length, first);
      expect(prove(data, first)).toEqual(proof);
      const chunk = data.subarray(first * 1024, first * 1024 + 1024);
      expect(verify(root, data.length, first, chunk, proof)).toBe(true);
      expect(verify(root, data.length, first + 1, chunk, proof)).toBe(false);
    }
  });
});
