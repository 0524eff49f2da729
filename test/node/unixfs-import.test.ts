import { describe, expect, it } from "vitest";
import { FileImporter } from "../../durable-objects/storage/unixfs-import.ts";
import { pseudoRandomBytes, referenceCids } from "../fixtures/kubo-profile.ts";

const MiB = 1024 * 1024;

async function tesseraCid(length: number, seed: number) {
  const importer = new FileImporter(async () => {});
  for await (const piece of pseudoRandomBytes(length, seed)) await importer.write(piece);
  return importer.close();
}

async function referenceCid(length: number, seed: number) {
  const [root] = await referenceCids([{ content: pseudoRandomBytes(length, seed) }]);
  return root?.cid;
}

describe("UnixFS import matches ipfs-unixfs-importer under Kubo's unixfs-v1-2025 profile", () => {
  const cases: [string, number][] = [
    ["an empty file", 0],
    ["1 byte", 1],
    ["1 KiB - 1", 1023],
    ["exactly 1 MiB (one raw leaf)", MiB],
    ["1 MiB + 1 (two leaves under a parent)", MiB + 1],
    ["10 MiB", 10 * MiB],
    ["10 MiB - 7", 10 * MiB - 7],
  ];
  for (const [name, length] of cases) {
    it(`gives the reference CID for ${name}`, async () => {
      const ours = await tesseraCid(length, length + 3);
      expect(ours.cid.toString()).toBe(await referenceCid(length, length + 3));
      expect(ours.size).toBe(length);
    });
  }

  it("writes single-chunk files as a raw CIDv1 leaf", async () => {
    const ours = await tesseraCid(100, 9);
    expect(ours.cid.toString()).toMatch(/^bafkrei/);
    expect(ours.blocks).toBe(1);
  });

  // 1025 chunks need a second tree level: 1024 leaves under one parent, one under another.
  for (const chunks of [1024, 1025]) {
    it(`gives the reference CID for ${chunks} chunks`, async () => {
      const length = chunks * MiB - 5;
      const ours = await tesseraCid(length, 77);
      expect(ours.cid.toString()).toBe(await referenceCid(length, 77));
      expect(ours.blocks).toBe(chunks + (chunks > 1024 ? 3 : 1));
    });
  }
});
