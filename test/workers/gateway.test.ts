import { beforeAll, describe, expect, it } from "vitest";
import { bytesOf, importFile, importTree, sha256, text } from "./gateway-fixtures.ts";
import { api, expectProblem } from "./helpers.ts";

// The first request loads the Worker bundle, which takes seconds in the test runtime.
beforeAll(() => api("/healthz"), 30_000);

describe("gateway: files", () => {
  it("serves a small file (one raw leaf) byte for byte", async () => {
    const content = text("hello, tessera\n");
    const cid = await importFile(content);
    expect(cid.toString()).toMatch(/^bafkrei/);
    const res = await api(`/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(content);
    expect(res.headers.get("etag")).toBe(`"${cid}"`);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
  });

  it("serves a multi-leaf file", async () => {
    const content = bytesOf(3 * 1048576 + 1234);
    const cid = await importFile(content);
    expect(cid.toString()).toMatch(/^bafybei/);
    const res = await api(`/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(content.length));
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(content));
  });

  it("serves a directory path", async () => {
    const root = await importTree({ "a/b.txt": text("bee"), "c.txt": text("sea") });
    const res = await api(`/ipfs/${root}/a/b.txt`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("bee");
    await expectProblem(await api(`/ipfs/${root}/a/nope.txt`), 404, "path_not_found");
  });
});
