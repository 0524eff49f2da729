import { CarReader } from "@ipld/car/reader";
import type { CID } from "multiformats/cid";
import { sha256 as sha256Hasher } from "multiformats/hashes/sha2";
import { beforeAll, describe, expect, it } from "vitest";
import { bytesOf, importFile, importTree, sha256, text, written } from "./gateway-fixtures.ts";
import { api, expectProblem } from "./helpers.ts";

beforeAll(() => api("/healthz"), 30_000);

/** Reads a CAR response as a client would: every block must hash to its CID. */
async function readCar(res: Response) {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(
    /^application\/vnd\.ipld\.car; version=1; order=dfs; dups=[yn]$/,
  );
  const reader = await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()));
  const blocks: { cid: CID; bytes: Uint8Array }[] = [];
  for await (const block of reader.blocks()) {
    const digest = await sha256Hasher.digest(block.bytes);
    expect(digest.bytes).toEqual(block.cid.multihash.bytes);
    blocks.push(block);
  }
  return { roots: await reader.getRoots(), blocks, cids: blocks.map((b) => b.cid.toString()) };
}

describe("gateway: raw blocks", () => {
  it("returns the single block for ?format=raw and for Accept", async () => {
    const content = bytesOf(2 * 1048576, 5);
    const root = await importFile(content);
    for (const [url, init] of [
      [`/ipfs/${root}?format=raw`, {}],
      [`/ipfs/${root}`, { headers: { accept: "application/vnd.ipld.raw" } }],
    ] as const) {
      const res = await api(url, init);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/vnd.ipld.raw");
      expect(res.headers.get("etag")).toBe(`"${root}.raw"`);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${root}.bin"`);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes).toEqual(written.get(root.toString()));
      expect((await sha256Hasher.digest(bytes)).bytes).toEqual(root.multihash.bytes);
    }
    const negotiated = await api(`/ipfs/${root}`, {
      headers: { accept: "application/vnd.ipld.raw" },
    });
    expect(negotiated.headers.get("content-location")).toBe(`/ipfs/${root}?format=raw`);
    await negotiated.arrayBuffer();
  });

  it("answers If-None-Match on a raw block with 304", async () => {
    const root = await importFile(text("raw etag"));
    const res = await api(`/ipfs/${root}?format=raw`, {
      headers: { "if-none-match": `"${root}.raw"` },
    });
    expect(res.status).toBe(304);
  });

  it("answers the trustless-gateway probe bafkqaaa (empty identity CID)", async () => {
    const raw = await api("/ipfs/bafkqaaa?format=raw");
    expect(raw.status).toBe(200);
    expect((await raw.arrayBuffer()).byteLength).toBe(0);
    const car = await readCar(await api("/ipfs/bafkqaaa?format=car"));
    expect(car.roots.map(String)).toEqual(["bafkqaaa"]);
    expect(car.blocks).toHaveLength(0); // identity blocks are never sent
  });
});

describe("gateway: CAR", () => {
  it("streams a file's whole DAG depth-first, root first, every block verified", async () => {
    const content = bytesOf(3 * 1048576 + 17, 6);
    const root = await importFile(content);
    const car = await readCar(await api(`/ipfs/${root}?format=car`));
    expect(car.roots.map(String)).toEqual([root.toString()]);
    expect(car.cids[0]).toBe(root.toString());
    expect(car.blocks).toHaveLength(5); // root + 4 leaves
    const leaves = car.blocks.slice(1).map((b) => b.bytes);
    const joined = new Uint8Array(leaves.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const leaf of leaves) {
      joined.set(leaf, at);
      at += leaf.length;
    }
    expect(await sha256(joined)).toBe(await sha256(content)); // DFS order = file order
  });

  it("returns the path's blocks then the terminal's, per dag-scope", async () => {
    const root = await importTree({
      "dir/big.bin": bytesOf(2 * 1048576 + 1, 8),
      "dir/other.txt": text("o"),
    });
    const entity = await readCar(
      await api(`/ipfs/${root}/dir/big.bin?format=car&dag-scope=entity`),
    );
    expect(entity.roots.map(String)).toEqual([root.toString()]);
    expect(entity.cids[0]).toBe(root.toString());
    expect(entity.blocks).toHaveLength(2 + 1 + 3); // root dir, dir, file root, three leaves
    const block = await readCar(await api(`/ipfs/${root}/dir/big.bin?format=car&dag-scope=block`));
    expect(block.cids).toEqual(entity.cids.slice(0, 3));
    const dirEntity = await readCar(await api(`/ipfs/${root}/dir?format=car&dag-scope=entity`));
    expect(dirEntity.blocks).toHaveLength(2); // a plain directory is one block
    const all = await readCar(await api(`/ipfs/${root}?format=car`));
    expect(new Set(all.cids)).toEqual(
      new Set([...entity.cids, ...dirEntity.cids, all.cids.at(-1)]),
    );
    expect(all.blocks).toHaveLength(7);
  });

  it("returns only the blocks an entity-bytes range needs", async () => {
    const content = bytesOf(4 * 1048576, 10);
    const root = await importFile(content);
    const mid = await readCar(await api(`/ipfs/${root}?format=car&entity-bytes=1048576:2097151`));
    expect(mid.blocks).toHaveLength(2); // file root + the second leaf
    expect(await sha256(mid.blocks[1]?.bytes ?? new Uint8Array())).toBe(
      await sha256(content.slice(1048576, 2097152)),
    );
    const tail = await readCar(await api(`/ipfs/${root}?format=car&entity-bytes=-10:*`));
    expect(tail.blocks).toHaveLength(2);
    expect(tail.blocks[1]?.bytes.slice(-10)).toEqual(content.slice(-10));
    const whole = await readCar(await api(`/ipfs/${root}?format=car&entity-bytes=0:*`));
    expect(whole.blocks).toHaveLength(5);
    const spanning = await readCar(
      await api(`/ipfs/${root}?format=car&entity-bytes=1048570:1048580`),
    );
    expect(spanning.blocks).toHaveLength(3);
    await expectProblem(
      await api(`/ipfs/${root}?format=car&entity-bytes=${4 * 1048576}:*`),
      400,
      "invalid_entity_bytes",
    );
    await expectProblem(
      await api(`/ipfs/${root}?format=car&entity-bytes=abc`),
      400,
      "invalid_entity_bytes",
    );
  });

  it("honours dups and the CAR content-type parameters from Accept", async () => {
    // Two identical files share their leaf: dups=y sends it twice, dups=n once.
    const same = bytesOf(1000, 12);
    const root = await importTree({ "x.bin": same, "y.bin": same });
    const once = await readCar(await api(`/ipfs/${root}?format=car`));
    expect(once.blocks).toHaveLength(2);
    const twice = await readCar(
      await api(`/ipfs/${root}`, {
        headers: { accept: "application/vnd.ipld.car; version=1; order=dfs; dups=y" },
      }),
    );
    expect(twice.blocks).toHaveLength(3);
    await expectProblem(
      await api(`/ipfs/${root}`, { headers: { accept: "application/vnd.ipld.car; version=2" } }),
      406,
      "not_acceptable",
    );
    await expectProblem(
      await api(`/ipfs/${root}?format=car&car-version=2`),
      400,
      "unsupported_format",
    );
  });

  it("sets CAR headers and a 304-able ETag that depends on the scope", async () => {
    const root = await importFile(text("car headers"));
    const res = await api(`/ipfs/${root}?format=car`);
    const etag = res.headers.get("etag") ?? "";
    expect(etag).toMatch(new RegExp(`^"${root}\\.car\\.[0-9a-f]+"$`));
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${root}.car"`);
    expect(res.headers.get("accept-ranges")).toBe("none");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    await res.arrayBuffer();
    const scoped = await api(`/ipfs/${root}?format=car&dag-scope=block`);
    expect(scoped.headers.get("etag")).not.toBe(etag);
    await scoped.arrayBuffer();
    const again = await api(`/ipfs/${root}?format=car`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
  });

  it("covers HAMT shards on the path and under entity scope", async () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 200; i++) files[`d/f${i}`] = text(`v${i}`);
    const root = await importTree(files, { shardSplitThresholdBytes: 1 });
    const car = await readCar(await api(`/ipfs/${root}/d/f150?format=car`));
    expect(car.cids.at(-1)).toBe(
      (await readCar(await api(`/ipfs/${root}/d/f150?format=car&dag-scope=block`))).cids.at(-1),
    );
    expect(new TextDecoder().decode(car.blocks.at(-1)?.bytes)).toBe("v150");
    const entity = await readCar(await api(`/ipfs/${root}/d?format=car&dag-scope=entity`));
    const all = await readCar(await api(`/ipfs/${root}/d?format=car&dag-scope=all`));
    expect(all.blocks.length - entity.blocks.length).toBe(200); // plus one raw leaf per entry
  });
});
