import type { CID } from "multiformats/cid";
import { describe, expect, it } from "vitest";
import { FileImporter } from "../../durable-objects/storage/unixfs-import.ts";
import { buildDirectory, type DirEntry } from "../../workers/storage/unixfs-dir.ts";
import { pseudoRandomBytes, referenceCids } from "../fixtures/kubo-profile.ts";

async function collect(length: number, seed: number) {
  const parts: Uint8Array[] = [];
  for await (const p of pseudoRandomBytes(length, seed)) parts.push(p);
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

async function tesseraDirectory(files: { path: string; content: Uint8Array }[]): Promise<CID> {
  const entries: DirEntry[] = [];
  for (const f of files) {
    const importer = new FileImporter(async () => {});
    await importer.write(f.content);
    const file = await importer.close();
    entries.push({ path: f.path, cid: file.cid, dagSize: file.dagSize });
  }
  return (await buildDirectory(entries, async () => {})).cid;
}

describe("UnixFS directories match ipfs-unixfs-importer (wrapWithDirectory)", () => {
  it("gives the reference CID for a nested directory", async () => {
    const files = [
      { path: "readme.md", content: new TextEncoder().encode("# hello\n") },
      { path: "src/main.ts", content: await collect(5000, 1) },
      { path: "src/lib/util.ts", content: await collect(3 * 1024 * 1024 + 17, 2) },
      { path: "assets/empty.txt", content: new Uint8Array(0) },
      { path: "assets/Zebra.png", content: await collect(1024 * 1024, 3) },
      { path: "assets/apple.png", content: await collect(10, 4) },
    ];
    const reference = await referenceCids(
      files.map((f) => ({ path: f.path, content: f.content })),
      true,
    );
    const root = reference.at(-1);
    expect(root?.path).toBe("");
    expect((await tesseraDirectory(files)).toString()).toBe(root?.cid);
  });
});
