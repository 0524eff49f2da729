import { beforeAll, describe, expect, it } from "vitest";
import { bytesOf, importFile, importTree, sha256, text } from "./gateway-fixtures.ts";
import { api, expectProblem } from "./helpers.ts";

// The first request loads the Worker bundle, which takes seconds in the test runtime.
beforeAll(() => api("/healthz"), 30_000);

const IMMUTABLE = "public, max-age=29030400, immutable";

describe("gateway: files", () => {
  it("serves a small file (one raw leaf) byte for byte, with the spec's headers", async () => {
    const content = text("hello, tessera\n");
    const cid = await importFile(content);
    expect(cid.toString()).toMatch(/^bafkrei/); // reduceSingleLeafToSelf: the file is its leaf
    const res = await api(`/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(content);
    expect(Object.fromEntries(res.headers)).toMatchObject({
      etag: `"${cid}"`,
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(content.length),
      "cache-control": IMMUTABLE,
      "x-content-type-options": "nosniff",
      "x-ipfs-path": `/ipfs/${cid}`,
      "x-ipfs-roots": cid.toString(),
      "accept-ranges": "bytes",
    });
  });

  it("streams a multi-leaf file (balanced DAG of 1 MiB raw leaves)", async () => {
    const content = bytesOf(3 * 1048576 + 1234);
    const cid = await importFile(content);
    expect(cid.toString()).toMatch(/^bafybei/);
    const res = await api(`/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(content.length));
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(content));
  });

  it("walks a DAG several levels deep", async () => {
    // 50 KB in 1000-byte chunks, 4 links per node: three levels of inner nodes.
    const content = bytesOf(50_000, 7);
    const cid = await importFile(content, { chunkSize: 1000, maxChildren: 4 });
    const res = await api(`/ipfs/${cid}`);
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(content));
    const ranged = await api(`/ipfs/${cid}`, { headers: { range: "bytes=12345-30000" } });
    expect(ranged.status).toBe(206);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(content.slice(12345, 30001));
  });

  it("answers a Range with 206 and exactly those bytes, across leaf boundaries", async () => {
    const content = bytesOf(2 * 1048576 + 10, 3);
    const cid = await importFile(content);
    const start = 1048576 - 5;
    const res = await api(`/ipfs/${cid}`, { headers: { range: `bytes=${start}-${start + 99}` } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${start}-${start + 99}/${content.length}`);
    expect(res.headers.get("content-length")).toBe("100");
    expect(res.headers.get("etag")).toBe(`"${cid}.${start}-${start + 99}"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(content.slice(start, start + 100));

    const suffix = await api(`/ipfs/${cid}`, { headers: { range: "bytes=-7" } });
    expect(suffix.status).toBe(206);
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(content.slice(-7));

    const open = await api(`/ipfs/${cid}`, { headers: { range: `bytes=${content.length - 3}-` } });
    expect(new Uint8Array(await open.arrayBuffer())).toEqual(content.slice(-3));
  });

  it("answers a multi-range request with the first range only", async () => {
    const content = text("0123456789abcdef");
    const cid = await importFile(content);
    const res = await api(`/ipfs/${cid}`, { headers: { range: "bytes=2-4, 8-9" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 2-4/16");
    expect(await res.text()).toBe("234");
  });

  it("refuses a range past the end with 416 and the size", async () => {
    const cid = await importFile(text("short"));
    const res = await api(`/ipfs/${cid}`, { headers: { range: "bytes=100-200" } });
    expect(res.headers.get("content-range")).toBe("bytes */5");
    await expectProblem(res, 416, "range_not_satisfiable");
  });

  it("ignores a malformed Range and sends the whole file", async () => {
    const cid = await importFile(text("whole"));
    const res = await api(`/ipfs/${cid}`, { headers: { range: "bytes=5-2" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("whole");
  });

  it("answers If-None-Match with 304 and no body", async () => {
    const cid = await importFile(bytesOf(5000, 9));
    const first = await api(`/ipfs/${cid}`);
    const etag = first.headers.get("etag") ?? "";
    await first.arrayBuffer();
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const res = await api(`/ipfs/${cid}`, { headers: { "if-none-match": inm } });
      expect(res.status).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(res.headers.get("cache-control")).toBe(IMMUTABLE);
      expect(await res.text()).toBe("");
    }
    const miss = await api(`/ipfs/${cid}`, { headers: { "if-none-match": '"nope"' } });
    expect(miss.status).toBe(200);
    await miss.arrayBuffer();
  });

  it("answers HEAD with the GET headers and no body", async () => {
    const content = bytesOf(1048576 + 1, 4);
    const cid = await importFile(content);
    const res = await api(`/ipfs/${cid}`, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(content.length));
    expect(res.headers.get("etag")).toBe(`"${cid}"`);
    expect(await res.text()).toBe("");
  });

  it("takes the content type from the file name, else from the bytes", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const root = await importTree({
      "page.html": text("<p>hi</p>"),
      "styles.css": text("p{}"),
      noext: png,
      "doc.svg.txt": text("<svg/>"),
      sniffed: text("<!DOCTYPE html><title>x</title>"),
    });
    const type = async (p: string, q = "") => {
      const res = await api(`/ipfs/${root}/${p}${q}`);
      await res.arrayBuffer();
      return res.headers.get("content-type");
    };
    expect(await type("page.html")).toBe("text/html; charset=utf-8");
    expect(await type("styles.css")).toBe("text/css; charset=utf-8");
    expect(await type("noext")).toBe("image/png");
    expect(await type("doc.svg.txt")).toBe("text/plain; charset=utf-8");
    expect(await type("sniffed")).toBe("text/html; charset=utf-8");
    expect(await type("noext", "?filename=x.json")).toBe("application/json");
  });

  it("sets Content-Disposition for ?filename and ?download=true", async () => {
    const cid = await importFile(text("report"));
    const inline = await api(`/ipfs/${cid}?filename=${encodeURIComponent("résumé.txt")}`);
    expect(inline.headers.get("content-disposition")).toBe(
      `inline; filename="r_sum_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`,
    );
    await inline.arrayBuffer();
    const attach = await api(`/ipfs/${cid}?filename=a.txt&download=true`);
    expect(attach.headers.get("content-disposition")).toBe('attachment; filename="a.txt"');
    await attach.arrayBuffer();
  });

  it("serves an empty file", async () => {
    const cid = await importFile(new Uint8Array(0));
    const res = await api(`/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("0");
    expect(await res.text()).toBe("");
  });
});
