// The SIMD128-only build that engines without relaxed SIMD load, checked here in Node (each
// vitest file gets its own module graph, hence its own kernel instance).
import { readFile } from "node:fs/promises";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { beforeAll, describe, expect, it } from "vitest";
import { blake3, deriveKey, init, keyedHash, outboard, prove, verify } from "./index.ts";
import { randomBytes } from "./test-data.ts";
import { toHex, VECTOR_CASES, VECTOR_CONTEXT, VECTOR_KEY, vectorInput } from "./test-vectors.ts";

beforeAll(async () => {
  const bytes = await readFile(new URL("./build/blake3-simd128.wasm", import.meta.url));
  const module = await WebAssembly.compile(bytes);
  const imports = WebAssembly.Module.imports(module);
  expect(imports).toEqual([]);
  await init(module);
});

describe("SIMD128-only build (no relaxed SIMD)", () => {
  it("passes every official test vector", () => {
    for (const c of VECTOR_CASES) {
      const input = vectorInput(c.input_len);
      const outLength = c.hash.length / 2;
      expect(toHex(blake3(input, outLength))).toBe(c.hash);
      expect(toHex(keyedHash(VECTOR_KEY, input, outLength))).toBe(c.keyed_hash);
      expect(toHex(deriveKey(VECTOR_CONTEXT, input, outLength))).toBe(c.derive_key);
    }
  });

  it("agrees with @noble/hashes on a 3 MiB input and proves a chunk of it", () => {
    const data = randomBytes(3 * (1 << 20) + 77, 4);
    const root = blake3(data);
    expect(root).toEqual(nobleBlake3(data));
    const tree = outboard(data);
    expect(tree.length).toBeGreaterThan(0);
    const proof = prove(data, 1234);
    expect(verify(root, data.length, 1234, data.subarray(1234 * 1024, 1235 * 1024), proof)).toBe(
      true,
    );
  });
});
