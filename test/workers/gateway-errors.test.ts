import { env } from "cloudflare:workers";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { beforeAll, describe, expect, it } from "vitest";
import { blockKey } from "../../durable-objects/storage/blocks.ts";
import { bytesOf, importFile, importTree, text, written } from "./gateway-fixtures.ts";
import { api, expectProblem } from "./helpers.ts";

beforeAll(() => api("/healthz"), 30_000);

/** A CID of bytes nobody stored. */
const absent = async (seed: number) =>
  importFile(bytesOf(10, seed)).then(async (cid) => {
    await env.BLOCKS.delete(blockKey(cid));
    return cid;
  });

describe("gateway: errors are problem documents", () => {
  it("rejects a malformed CID with 400 invalid_cid", async () => {
    for (const bad of ["not-a-cid", "bafy", "Qm123", "zzzzzz"]) {
      await expectProblem(await api(`/ipfs/${bad}`), 400, "invalid_cid");
    }
    await expectProblem(await api("/ipfs/not-a-cid/some/path"), 400, "invalid_cid");
  });

  it("answers content this node does not have with 404 content_not_found", async () => {
    const cid = await absent(101);
    await expectProblem(await api(`/ipfs/${cid}`), 404, "content_not_found");
    await expectProblem(await api(`/ipfs/${cid}?format=raw`), 404, "content_not_found");
    await expectProblem(await api(`/ipfs/${cid}?format=car`), 404, "content_not_found");
    const head = await api(`/ipfs/${cid}`, { method: "HEAD" });
    expect(head.status).toBe(404);
  });

  it("accepts a CIDv0 and other multibases for the same content", async () => {
    const cid = await importTree({ "a.txt": text("v0") });
    const v0 = cid.toV0().toString();
    expect(v0).toMatch(/^Qm/);
    expect(await (await api(`/ipfs/${v0}/a.txt`)).text()).toBe("v0");
    const b36 = cid.toString((await import("multiformats/bases/base36")).base36);
    expect(await (await api(`/ipfs/${b36}/a.txt`)).text()).toBe("v0");
  });

  it("refuses formats it does not produce", async () => {
    const cid = await importFile(text("fmt"));
    await expectProblem(await api(`/ipfs/${cid}?format=tar`), 400, "unsupported_format");
    await expectProblem(await api(`/ipfs/${cid}?format=nonsense`), 400, "unsupported_format");
    await expectProblem(
      await api(`/ipfs/${cid}`, { headers: { accept: "application/x-tar" } }),
      406,
      "not_acceptable",
    );
    await expectProblem(
      await api(`/ipfs/${cid}?format=car&dag-scope=most`),
      400,
      "validation_failed",
    );
  });

  it("refuses a CID whose hash it cannot verify", async () => {
    const blake3 = CID.create(1, 0x55, Digest.create(0x1e, new Uint8Array(32).fill(7)));
    await expectProblem(await api(`/ipfs/${blake3}`), 400, "unsupported_cid");
  });

  it("refuses to register a service worker at a bare content root", async () => {
    const cid = await importFile(text("sw"));
    await expectProblem(
      await api(`/ipfs/${cid}`, { headers: { "service-worker": "script" } }),
      400,
      "service_worker_not_allowed",
    );
  });

  it("never serves a corrupted block: 502 block_corrupt before the response starts", async () => {
    const cid = await importFile(text("the real bytes"));
    await env.BLOCKS.put(blockKey(cid), text("tampered bytes"));
    await expectProblem(await api(`/ipfs/${cid}`), 502, "block_corrupt");
    await expectProblem(await api(`/ipfs/${cid}?format=raw`), 502, "block_corrupt");
    await expectProblem(await api(`/ipfs/${cid}?format=car`), 502, "block_corrupt");
  });

  it("cuts the stream instead of sending a corrupted leaf mid-file", async () => {
    const content = bytesOf(3 * 1048576, 77);
    const root = await importFile(content);
    const leaves = [...written.keys()].filter((k) => k.startsWith("bafkrei"));
    const third = leaves.find(
      (k) =>
        written.get(k)?.[0] === content[2 * 1048576] &&
        written.get(k)?.[1] === content[2 * 1048576 + 1],
    );
    expect(third).toBeDefined();
    await env.BLOCKS.put(blockKey(CID.parse(third ?? "")), bytesOf(1048576, 78));
    const res = await api(`/ipfs/${root}`);
    expect(res.status).toBe(200); // the first leaf was fine, so the response had started
    await expect(res.arrayBuffer()).rejects.toThrow();
    const car = await api(`/ipfs/${root}?format=car`);
    await expect(car.arrayBuffer()).rejects.toThrow();
  });

  it("answers a missing leaf mid-file by cutting the stream, and a missing first leaf with 404", async () => {
    const content = bytesOf(2 * 1048576 + 5, 79);
    const root = await importFile(content);
    const firstLeaf = [...written.entries()].find(
      ([k, v]) =>
        k.startsWith("bafkrei") &&
        v.length === 1048576 &&
        v[0] === content[0] &&
        v[1] === content[1],
    );
    expect(firstLeaf).toBeDefined();
    await env.BLOCKS.delete(blockKey(CID.parse(firstLeaf?.[0] ?? "")));
    await expectProblem(await api(`/ipfs/${root}`), 404, "content_not_found");
  });
});
