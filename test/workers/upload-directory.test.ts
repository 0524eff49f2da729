import { env } from "cloudflare:workers";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, signup } from "./helpers.ts";

// The reference importer runs here, inside workerd, next to the Worker under test.
async function referenceDirectoryCid(files: { path: string; content: Uint8Array }[]) {
  const blockstore = {
    put: async (cid: unknown) => cid,
    get: async () => new Uint8Array(),
    has: async () => false,
  };
  let root = "";
  for await (const entry of importer(files, blockstore as never, {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: 1024 * 1024 }),
    layout: balanced({ maxChildrenPerNode: 1024 }),
    wrapWithDirectory: true,
  })) {
    root = entry.cid.toString();
  }
  return root;
}

function form(files: { path: string; content: Uint8Array }[]) {
  const body = new FormData();
  for (const f of files) body.append("file", new File([f.content as BlobPart], f.path));
  return body;
}

const text = (s: string) => new TextEncoder().encode(s);

describe("POST /v1/uploads (multipart directory)", () => {
  it("builds a nested UnixFS directory whose CID equals the reference importer's", async () => {
    const { apiKey } = await signup();
    const big = new Uint8Array(1024 * 1024 + 99).map((_, i) => (i * 31) & 0xff);
    const files = [
      { path: "index.html", content: text("<h1>hi</h1>") },
      { path: "css/site.css", content: text("body{}") },
      { path: "img/photos/big.bin", content: big },
      { path: "img/logo.svg", content: text("<svg/>") },
    ];
    const res = await api("/v1/uploads?name=site", {
      method: "POST",
      headers: bearer(apiKey),
      body: form(files),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      cid: string;
      files: number;
      kind: string;
      size: number;
      name: string;
    };
    expect(body).toMatchObject({ kind: "directory", files: 4, name: "site" });
    expect(body.size).toBe(files.reduce((n, f) => n + f.content.length, 0));
    expect(body.cid).toBe(await referenceDirectoryCid(files));
  });

  it("refuses paths that climb out of the directory, and duplicates", async () => {
    const { apiKey } = await signup();
    for (const path of ["../etc/passwd", "/abs.txt", "a//b.txt", "a/./b.txt"]) {
      const res = await api("/v1/uploads", {
        method: "POST",
        headers: bearer(apiKey),
        body: form([{ path, content: text("x") }]),
      });
      await expectProblem(res, 400, "invalid_path");
    }
    const dup = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey),
      body: form([
        { path: "a.txt", content: text("1") },
        { path: "a.txt", content: text("2") },
      ]),
    });
    await expectProblem(dup, 400, "invalid_path");
    const clash = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey),
      body: form([
        { path: "a", content: text("file") },
        { path: "a/b.txt", content: text("nested") },
      ]),
    });
    await expectProblem(clash, 400, "invalid_path");
  });

  it("refuses a form without files", async () => {
    const { apiKey } = await signup();
    const body = new FormData();
    body.append("note", "no files here");
    await expectProblem(
      await api("/v1/uploads", { method: "POST", headers: bearer(apiKey), body }),
      400,
      "validation_failed",
    );
  });
});

describe("usage events", () => {
  it("records bytes stored on upload and released on delete, each once", async () => {
    const { accountId, apiKey } = await signup();
    const res = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: text("metered bytes"),
    });
    const { cid } = (await res.json()) as { cid: string };
    await api(`/v1/uploads/${cid}`, { method: "DELETE", headers: bearer(apiKey) });
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
    const events = await account.usageEvents();
    expect(events.map((e) => [e.kind, e.bytes, e.cid])).toEqual([
      ["storage.added", 13, cid],
      ["storage.removed", 13, cid],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
  });
});
