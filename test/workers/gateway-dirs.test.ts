import { beforeAll, describe, expect, it } from "vitest";
import { importTree, text } from "./gateway-fixtures.ts";
import { api, expectProblem } from "./helpers.ts";

beforeAll(() => api("/healthz"), 30_000);

describe("gateway: directories", () => {
  it("resolves nested paths, percent-encoded names included", async () => {
    const root = await importTree({
      "a/b/c.txt": text("deep"),
      "with space & more.txt": text("spaced"),
      "ünï.txt": text("unicode"),
    });
    const res = await api(`/ipfs/${root}/a/b/c.txt`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("deep");
    const roots = res.headers.get("x-ipfs-roots")?.split(",") ?? [];
    expect(roots).toHaveLength(4); // root, a, b, c.txt
    expect(roots[0]).toBe(root.toString());
    expect(res.headers.get("x-ipfs-path")).toBe(`/ipfs/${root}/a/b/c.txt`);
    expect(res.headers.get("etag")).toBe(`"${roots[3]}"`);
    expect(
      await (await api(`/ipfs/${root}/${encodeURIComponent("with space & more.txt")}`)).text(),
    ).toBe("spaced");
    expect(await (await api(`/ipfs/${root}/${encodeURIComponent("ünï.txt")}`)).text()).toBe(
      "unicode",
    );
  });

  it("answers a missing name, or a name under a file, with 404 path_not_found", async () => {
    const root = await importTree({ "a/b.txt": text("x") });
    await expectProblem(await api(`/ipfs/${root}/a/missing`), 404, "path_not_found");
    await expectProblem(await api(`/ipfs/${root}/a/b.txt/under-a-file`), 404, "path_not_found");
  });

  it("redirects a directory without its trailing slash (301)", async () => {
    const root = await importTree({ "a/b.txt": text("x") });
    const res = await api(`/ipfs/${root}/a?x=1`, { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe(`/ipfs/${root}/a/?x=1`);
  });

  it("lists a directory as HTML with escaped names and relative links", async () => {
    const root = await importTree({
      "a.txt": text("1"),
      "<b>.txt": text("2"),
      "sub/c.txt": text("3"),
    });
    const res = await api(`/ipfs/${root}/`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("etag")).toMatch(new RegExp(`^"DirIndex-.+_CID-${root}"$`));
    expect(res.headers.get("cache-control")).toBe("public, max-age=29030400, immutable");
    const html = await res.text();
    expect(html).toContain('href="a.txt"');
    expect(html).toContain('href="sub"');
    expect(html).toContain('href="%3Cb%3E.txt"');
    expect(html).toContain("&#60;b&#62;.txt");
    expect(html).not.toContain("<b>.txt");
  });

  it("refuses a listing to a client that accepts no HTML (406)", async () => {
    const root = await importTree({ "a.txt": text("1") });
    await expectProblem(
      await api(`/ipfs/${root}/`, { headers: { accept: "application/octet-stream" } }),
      406,
      "not_acceptable",
    );
  });

  it("serves index.html instead of a listing", async () => {
    const root = await importTree({
      "site/index.html": text("<h1>home</h1>"),
      "site/x.css": text(""),
    });
    const res = await api(`/ipfs/${root}/site/`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await res.text()).toBe("<h1>home</h1>");
  });

  it("resolves and lists HAMT-sharded directories", async () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 300; i++) files[`big/file-${i}.txt`] = text(`content ${i}`);
    // A tiny threshold makes the importer shard `big` as Kubo does for large directories.
    const root = await importTree(files, { shardSplitThresholdBytes: 1 });
    for (const i of [0, 137, 299]) {
      const res = await api(`/ipfs/${root}/big/file-${i}.txt`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`content ${i}`);
    }
    await expectProblem(await api(`/ipfs/${root}/big/file-300.txt`), 404, "path_not_found");
    const html = await (
      await api(`/ipfs/${root}/big/`, { headers: { accept: "text/html" } })
    ).text();
    for (let i = 0; i < 300; i++) expect(html).toContain(`href="file-${i}.txt"`);
    expect(html).toContain("300 entries");
  });
});
