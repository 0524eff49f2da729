// Loading behaviour, in a file of its own so the module starts uninitialised.
import { describe, expect, it } from "vitest";
import { blake3, createHasher, init } from "./index.ts";

describe("init", () => {
  it("fails clearly before init, then is idempotent and makes every call synchronous", async () => {
    expect(() => blake3(new Uint8Array(1))).toThrow(/init\(\)/);
    expect(() => createHasher().update(new Uint8Array(1))).toThrow(/init\(\)/);
    const first = init();
    expect(init()).toBe(first);
    await first;
    await init();
    expect(blake3(new Uint8Array(0))).toHaveLength(32);
  });
});
