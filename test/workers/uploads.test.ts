import { env } from "cloudflare:workers";
import { CarWriter } from "@ipld/car/writer";
import * as dagPb from "@ipld/dag-pb";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { describe, expect, it } from "vitest";
import { blockKey } from "../../durable-objects/storage/blocks.ts";
import { api, bearer, expectProblem, signup, streamedBody } from "./helpers.ts";

const MiB = 1024 * 1024;

function bytes(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function upload(
  apiKey: string,
  body: BodyInit | Uint8Array,
  type = "application/octet-stream",
  extra = {},
) {
  return api("/v1/uploads", {
    method: "POST",
    headers: bearer(apiKey, { "content-type": type, ...extra }),
    body: body as BodyInit,
  });
}

async function rawCid(data: Uint8Array) {
  return CID.createV1(raw.code, await sha256.digest(data));
}

async function car(roots: CID[], blocks: { cid: CID; bytes: Uint8Array }[]) {
  const { writer, out } = CarWriter.create(roots);
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const c of out) chunks.push(c);
  })();
  for (const b of blocks) await writer.put(b);
  await writer.close();
  await collected;
  return new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
}

describe("POST /v1/uploads (raw file)", () => {
  it("stores a file and answers its CID, size and BLAKE3", async () => {
    const { apiKey } = await signup();
    const data = bytes(1000);
    const res = await upload(apiKey, data);
    expect(res.status).toBe(201);
    const body = (await res.json()) as { cid: string; size: number; blake3: string; kind: string };
    expect(body.cid).toBe((await rawCid(data)).toString());
    expect(body.size).toBe(1000);
    expect(body.kind).toBe("file");
    expect(body.blake3).toMatch(/^[0-9a-f]{64}$/);
    const stored = await env.BLOCKS.get(blockKey(CID.parse(body.cid)));
    expect(new Uint8Array((await stored?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(data);
  });

  it("answers 200 with the same upload when the account stores the same bytes again", async () => {
    const { apiKey } = await signup();
    const data = bytes(3 * MiB + 5, 2);
    const first = await upload(apiKey, data, undefined, {});
    const again = await upload(apiKey, data);
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(await first.json());
    const list = (await (await api("/v1/uploads", { headers: bearer(apiKey) })).json()) as {
      data: unknown[];
    };
    expect(list.data).toHaveLength(1);
  });

  it("replays a retried upload with the same Idempotency-Key", async () => {
    const { apiKey } = await signup();
    const data = bytes(2048, 3);
    const key = crypto.randomUUID();
    const a = await upload(apiKey, data, undefined, { "idempotency-key": key });
    const b = await upload(apiKey, data, undefined, { "idempotency-key": key });
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(b.status).toBe(201);
    expect(await b.json()).toEqual(await a.json());
  });

  it("stores and counts a repeated chunk once", async () => {
    const { apiKey } = await signup();
    const zeros = new Uint8Array(5 * MiB);
    const res = await upload(apiKey, zeros);
    const body = (await res.json()) as { size: number; dag_size: number; blocks: number };
    expect(body.size).toBe(5 * MiB);
    // One 1 MiB zero leaf plus the root node, not five leaves.
    expect(body.blocks).toBe(2);
    expect(body.dag_size).toBeLessThan(MiB + 1024);
  });

  it("serves stored content to browsers in a CSP sandbox, never as same-origin script", async () => {
    const { apiKey } = await signup();
    const page = new TextEncoder().encode("<script>fetch('/v1/account')</script>");
    const { cid } = (await (await upload(apiKey, page)).json()) as { cid: string };
    const res = await api(`/ipfs/${cid}?filename=x.html`);
    expect(res.headers.get("content-security-policy")).toBe("sandbox");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("needs the storage scope", async () => {
    const { apiKey } = await signup();
    const res = await api("/v1/keys", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/json" }),
      body: JSON.stringify({ scopes: ["jobs"] }),
    });
    const jobsKey = ((await res.json()) as { api_key: string }).api_key;
    await expectProblem(await upload(jobsKey, bytes(10)), 403, "insufficient_scope");
  });

  it("refuses a body in another media type with 415", async () => {
    const { apiKey } = await signup();
    await expectProblem(await upload(apiKey, "hello", "text/plain"), 415, "unsupported_media_type");
    await expectProblem(
      await upload(apiKey, "{}", "application/json"),
      415,
      "unsupported_media_type",
    );
  });

  it("sends requests over the single-request limit to upload sessions with 413", async () => {
    const { apiKey } = await signup();
    // The test pool sets MAX_UPLOAD_REQUEST_BYTES to 12 MiB.
    const res = await upload(apiKey, bytes(13 * MiB));
    const problem = await expectProblem(res, 413, "payload_too_large");
    expect(problem.detail).toContain("/v1/uploads/sessions");
  });
});

describe("storage quota", () => {
  it("enforces the single-request limit on a streamed body without Content-Length", async () => {
    const { apiKey } = await signup();
    const data = bytes(13 * MiB, 3);
    const res = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      ...streamedBody(data),
    });
    await expectProblem(res, 413, "payload_too_large");
  });

  // The test pool sets STORAGE_QUOTA_BYTES to 24 MiB.
  it("refuses an upload past the quota with 413 and keeps none of its blocks", async () => {
    const { apiKey } = await signup();
    for (let i = 0; i < 2; i++)
      expect((await upload(apiKey, bytes(10 * MiB, 10 + i))).status).toBe(201);
    const over = bytes(10 * MiB, 99);
    await expectProblem(await upload(apiKey, over), 413, "storage_quota_exceeded");
    // Not one block of the refused file was kept.
    const firstLeaf = await rawCid(over.subarray(0, MiB));
    expect(await env.BLOCKS.head(blockKey(firstLeaf))).toBeNull();
    const list = (await (await api("/v1/uploads", { headers: bearer(apiKey) })).json()) as {
      data: unknown[];
    };
    expect(list.data).toHaveLength(2);
  });

  it("also catches a streamed body without Content-Length, mid-stream", async () => {
    const { apiKey } = await signup();
    for (const seed of [4, 5])
      expect((await upload(apiKey, bytes(10 * MiB, seed))).status).toBe(201);
    const data = bytes(10 * MiB, 6);
    const res = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      ...streamedBody(data),
    });
    await expectProblem(res, 413, "storage_quota_exceeded");
    expect(await env.BLOCKS.head(blockKey(await rawCid(data.subarray(0, MiB))))).toBeNull();
  });
});

describe("POST /v1/uploads (CAR)", () => {
  it("stores every verified block and answers roots, blocks and size", async () => {
    const { apiKey } = await signup();
    const leafA = bytes(300, 7);
    const leafB = bytes(500, 8);
    const cidA = await rawCid(leafA);
    const cidB = await rawCid(leafB);
    const node = dagPb.encode(
      dagPb.prepare({
        Links: [
          { Hash: cidA, Name: "a" },
          { Hash: cidB, Name: "b" },
        ],
      }),
    );
    const root = CID.createV1(dagPb.code, await sha256.digest(node));
    const body = await car(
      [root],
      [
        { cid: root, bytes: node },
        { cid: cidA, bytes: leafA },
        { cid: cidB, bytes: leafB },
      ],
    );
    const res = await upload(apiKey, body, "application/vnd.ipld.car");
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      cid: root.toString(),
      roots: [root.toString()],
      blocks: 3,
      size: node.length + 800,
      kind: "car",
    });
    for (const cid of [root, cidA, cidB])
      expect(await env.BLOCKS.head(blockKey(cid))).not.toBeNull();
  });

  it("refuses a CAR with a block that does not match its CID, storing nothing", async () => {
    const { apiKey } = await signup();
    const good = bytes(100, 11);
    const goodCid = await rawCid(good);
    const liar = bytes(100, 12);
    const claimed = await rawCid(bytes(100, 13));
    const body = await car(
      [goodCid],
      [
        { cid: goodCid, bytes: good },
        { cid: claimed, bytes: liar },
      ],
    );
    await expectProblem(
      await upload(apiKey, body, "application/vnd.ipld.car"),
      400,
      "car_block_mismatch",
    );
    expect(await env.BLOCKS.head(blockKey(goodCid))).toBeNull();
    const list = (await (await api("/v1/uploads", { headers: bearer(apiKey) })).json()) as {
      data: unknown[];
    };
    expect(list.data).toHaveLength(0);
  });

  it("refuses a truncated CAR and garbage, storing nothing", async () => {
    const { apiKey } = await signup();
    const block = bytes(4000, 14);
    const cid = await rawCid(block);
    const whole = await car([cid], [{ cid, bytes: block }]);
    const truncated = whole.subarray(0, whole.length - 100);
    await expectProblem(
      await upload(apiKey, truncated, "application/vnd.ipld.car"),
      400,
      "invalid_car",
    );
    expect(await env.BLOCKS.head(blockKey(cid))).toBeNull();
    await expectProblem(
      await upload(apiKey, bytes(64, 15), "application/vnd.ipld.car"),
      400,
      "invalid_car",
    );
  });
});

describe("listing and deleting uploads", () => {
  it("pages newest first with a cursor", async () => {
    const { apiKey } = await signup();
    const cids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await upload(apiKey, bytes(10 + i, 20 + i), undefined, {});
      cids.push(((await res.json()) as { cid: string }).cid);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = (await (await api(`/v1/uploads${q}`, { headers: bearer(apiKey) })).json()) as {
        data: { cid: string }[];
        next_cursor: string | null;
      };
      seen.push(...page.data.map((u) => u.cid));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...cids].reverse());
  });

  it("deletes an upload and garbage-collects blocks nothing else references", async () => {
    const a = await signup();
    const b = await signup();
    const shared = bytes(2 * MiB, 30);
    const onlyA = bytes(100, 31);
    const sharedCid = ((await (await upload(a.apiKey, shared)).json()) as { cid: string }).cid;
    expect((await upload(b.apiKey, shared)).status).toBe(201);
    const onlyACid = ((await (await upload(a.apiKey, onlyA)).json()) as { cid: string }).cid;

    const del = await api(`/v1/uploads/${onlyACid}`, {
      method: "DELETE",
      headers: bearer(a.apiKey),
    });
    expect(del.status).toBe(200);
    expect(await env.BLOCKS.head(blockKey(CID.parse(onlyACid)))).toBeNull();

    // a deletes the shared file: b still holds it, so its blocks stay.
    await api(`/v1/uploads/${sharedCid}`, { method: "DELETE", headers: bearer(a.apiKey) });
    const leaf = await rawCid(shared.subarray(0, MiB));
    expect(await env.BLOCKS.head(blockKey(CID.parse(sharedCid)))).not.toBeNull();
    expect(await env.BLOCKS.head(blockKey(leaf))).not.toBeNull();
    // b deletes it too: now every block is gone.
    await api(`/v1/uploads/${sharedCid}`, { method: "DELETE", headers: bearer(b.apiKey) });
    expect(await env.BLOCKS.head(blockKey(CID.parse(sharedCid)))).toBeNull();
    expect(await env.BLOCKS.head(blockKey(leaf))).toBeNull();

    await expectProblem(
      await api(`/v1/uploads/${sharedCid}`, { method: "DELETE", headers: bearer(b.apiKey) }),
      404,
      "upload_not_found",
    );
    await expectProblem(
      await api("/v1/uploads/not-a-cid", { method: "DELETE", headers: bearer(b.apiKey) }),
      400,
      "invalid_cid",
    );
  });

  it("frees quota when an upload is deleted", async () => {
    const { apiKey } = await signup();
    const first = ((await (await upload(apiKey, bytes(10 * MiB, 40))).json()) as { cid: string })
      .cid;
    expect((await upload(apiKey, bytes(10 * MiB, 41))).status).toBe(201);
    await expectProblem(await upload(apiKey, bytes(10 * MiB, 42)), 413, "storage_quota_exceeded");
    await api(`/v1/uploads/${first}`, { method: "DELETE", headers: bearer(apiKey) });
    expect((await upload(apiKey, bytes(10 * MiB, 42))).status).toBe(201);
  });
});
