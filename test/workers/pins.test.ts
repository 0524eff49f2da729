import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { CarBlockIterator } from "@ipld/car";
import { describe, expect, it } from "vitest";
import { blake3, init as initBlake3 } from "../../wasm/index.ts";
import { api, bearer, jsonInit, signup } from "./helpers.ts";

/**
 * The Pinning Service API inside workerd: the lifecycle of a pin of content the account holds
 * (pinned at once), of content only another account uploaded (walked block by block from R2,
 * each block re-hashed, and recorded as this account's upload), unpinning, and the spec's error
 * shape. Fetching from remote origins over real HTTP is in test/node/pins-origins.test.ts.
 */
interface PinStatus {
  requestid: string;
  status: string;
  created: string;
  pin: { cid: string; name?: string; origins: string[]; meta: Record<string, string> };
  delegates: string[];
  info: Record<string, string>;
}

async function upload(apiKey: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const res = await api("/v1/uploads", {
    method: "POST",
    headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
    body: bytes,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { cid: string }).cid;
}

async function addPin(apiKey: string, pin: object): Promise<PinStatus> {
  const res = await api("/pinning/pins", jsonInit("POST", pin, bearer(apiKey)));
  expect(res.status).toBe(202);
  return (await res.json()) as PinStatus;
}

async function getPin(apiKey: string, id: string): Promise<PinStatus> {
  const res = await api(`/pinning/pins/${id}`, { headers: bearer(apiKey) });
  expect(res.status).toBe(200);
  return (await res.json()) as PinStatus;
}

async function expectFailure(res: Response, status: number, reason: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { reason: string; details: string } };
  expect(body.error.reason).toBe(reason);
  expect(typeof body.error.details).toBe("string");
}

const pinObject = (id: string) => env.PIN.get(env.PIN.idFromName(id));

/**
 * Runs the pin's alarm until it is `pinned` or `failed` (its alarm may also fire on its own
 * meanwhile) and its account's index says so too; reads the objects directly so polling does
 * not spend the key's rate limit.
 */
async function settled(accountId: string, id: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    await runDurableObjectAlarm(pinObject(id));
    const row = await pinObject(id).view(accountId);
    if (row && (row.status === "pinned" || row.status === "failed")) {
      // ...and the account's index (what GET /pins reads) has caught up with it.
      const index = await env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId)).listPins({
        statuses: [row.status],
        match: "exact",
        limit: 1000,
      });
      if (index.rows.some((r) => r.requestid === id)) return row.status;
    }
    await scheduler.wait(20);
  }
  throw new Error(`pin ${id} did not settle`);
}

/** A new key of the account with the `storage` scope: its own rate-limit window. */
async function freshKey(apiKey: string): Promise<string> {
  const res = await api("/v1/keys", jsonInit("POST", { scopes: ["storage"] }, bearer(apiKey)));
  expect(res.status).toBe(201);
  return ((await res.json()) as { api_key: string }).api_key;
}
const bytes = (n: number, seed: number) =>
  new Uint8Array(n).map((_, i) => (i * seed + (i >>> 20) * 7 + 11) & 0xff); // chunks differ

describe("Pinning Service API: lifecycle", () => {
  it("pins content the account already stores at once (no providers: replicas 0)", async () => {
    const { apiKey } = await signup();
    const cid = await upload(apiKey, bytes(3000, 7));
    const created = await addPin(apiKey, { cid, name: "mine.bin", meta: { app: "t" } });
    expect(created).toMatchObject({
      status: "pinned",
      pin: { cid, name: "mine.bin", origins: [], meta: { app: "t" } },
      info: { replicas: "0" },
    });
    expect(created.requestid).toMatch(/^pin_[a-z2-7]{20}$/);
    expect(created.delegates.length).toBeGreaterThan(0);
    expect(await getPin(apiKey, created.requestid)).toEqual(created);
    const list = await api("/pinning/pins", { headers: bearer(apiKey) });
    expect(await list.json()).toEqual({ count: 1, results: [created] });

    // Unpinning leaves the account's own upload alone.
    const del = await api(`/pinning/pins/${created.requestid}`, {
      method: "DELETE",
      headers: bearer(apiKey),
    });
    expect(del.status).toBe(202);
    await expectFailure(
      await api(`/pinning/pins/${created.requestid}`, { headers: bearer(apiKey) }),
      404,
      "NOT_FOUND",
    );
    expect((await api(`/v1/uploads/${cid}`, { headers: bearer(apiKey) })).status).toBe(200);
  });

  it("walks content it does not hold block by block, records it as an upload, and unpins it", async () => {
    const other = await signup();
    const file = bytes(2 * 1024 * 1024 + 4321, 13); // three 1 MiB-chunk leaves and a root
    const cid = await upload(other.apiKey, file);

    const { accountId, apiKey } = await signup();
    const created = await addPin(apiKey, { cid, name: "theirs" });
    expect(created.status).toBe("queued");
    expect(await settled(accountId, created.requestid)).toBe("pinned");
    const pinned = await getPin(apiKey, created.requestid);
    expect(pinned).toMatchObject({ status: "pinned", info: { replicas: "0" } });

    const up = await api(`/v1/uploads/${cid}`, { headers: bearer(apiKey) });
    expect(up.status).toBe(200);
    const record = (await up.json()) as { dag_size: number; upload_id: string };
    expect(record).toMatchObject({ cid, kind: "file", size: file.length, blocks: 4 });
    // Metered like an upload: storage.added with the DAG's bytes, attributed to the pinning key.
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
    const added = (await account.usageEvents()).filter((e) => e.kind === "storage.added");
    expect(added).toEqual([
      expect.objectContaining({
        cid,
        bytes: record.dag_size,
        key_id: expect.stringMatching(/^key_/),
      }),
    ]);

    const del = await api(`/pinning/pins/${created.requestid}`, {
      method: "DELETE",
      headers: bearer(apiKey),
    });
    expect(del.status).toBe(202);
    // The pin created that upload, so unpinning ends it (and its storage charge).
    expect((await api(`/v1/uploads/${cid}`, { headers: bearer(apiKey) })).status).toBe(404);
    expect((await account.usageEvents()).map((e) => e.kind)).toEqual([
      "storage.added",
      "storage.removed",
    ]);
    // The other account's copy is untouched and still served.
    const served = await api(`/ipfs/${cid}`);
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(file);
  });

  it("pins a directory: kind directory, BLAKE3 over its blocks in the gateway CAR's order", async () => {
    const other = await signup();
    const body = new FormData();
    const files = { "a.txt": bytes(700, 3), "sub/b.bin": bytes(1024 * 1024 + 50, 5) };
    for (const [path, content] of Object.entries(files)) {
      body.append("file", new File([content], path));
    }
    const res = await api("/v1/uploads", { method: "POST", headers: bearer(other.apiKey), body });
    expect(res.status).toBe(201);
    const { cid } = (await res.json()) as { cid: string };

    const { accountId, apiKey } = await signup();
    const created = await addPin(apiKey, { cid });
    expect(await settled(accountId, created.requestid)).toBe("pinned");

    // The proof stream, built independently: the CAR's blocks (dfs, each once), concatenated.
    const car = await api(`/ipfs/${cid}?format=car&dups=n`);
    const parts: Uint8Array[] = [];
    for await (const block of await CarBlockIterator.fromIterable(
      car.body as AsyncIterable<Uint8Array>,
    )) {
      parts.push(block.bytes);
    }
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      stream.set(p, at);
      at += p.length;
    }
    await initBlake3();
    const hex = [...blake3(stream)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const up = await api(`/v1/uploads/${cid}`, { headers: bearer(apiKey) });
    expect(await up.json()).toMatchObject({
      cid,
      kind: "directory",
      size: stream.length,
      blake3: hex,
    });
  });

  it("fails a pin whose content would take the account past its storage quota, and keeps none of it", async () => {
    const other = await signup();
    const cid = await upload(other.apiKey, bytes(6 * 1024 * 1024, 19));
    const { accountId, apiKey } = await signup();
    // The test quota is 24 MiB: 2 × 10 MiB of the account's own leaves less than 6 MiB free.
    await upload(apiKey, bytes(10 * 1024 * 1024, 23));
    await upload(apiKey, bytes(10 * 1024 * 1024, 29));
    const created = await addPin(apiKey, { cid });
    expect(await settled(accountId, created.requestid)).toBe("failed");
    const failed = await getPin(apiKey, created.requestid);
    expect(failed.info.failure_reason).toContain("quota");
    expect((await api(`/v1/uploads/${cid}`, { headers: bearer(apiKey) })).status).toBe(404);
  });

  it("answers a retried create carrying the same Idempotency-Key with the same pin", async () => {
    const { apiKey } = await signup();
    const cid = await upload(apiKey, bytes(1234, 17));
    const headers = bearer(apiKey, { "idempotency-key": "pin-retry-7c1f5a9e" });
    const first = await api("/pinning/pins", jsonInit("POST", { cid }, headers));
    const again = await api("/pinning/pins", jsonInit("POST", { cid }, headers));
    expect([first.status, again.status]).toEqual([202, 202]);
    const [a, b] = [(await first.json()) as PinStatus, (await again.json()) as PinStatus];
    expect(b.requestid).toBe(a.requestid);
    const list = await api("/pinning/pins", { headers: bearer(apiKey) });
    expect(((await list.json()) as { count: number }).count).toBe(1);
  });

  it("fails a pin nobody can provide with the reason, instead of leaving it queued", async () => {
    const { accountId, apiKey } = await signup();
    // A valid CID of bytes no one stored, with only a bitswap hint this service cannot dial.
    const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    const created = await addPin(apiKey, {
      cid,
      origins: [
        "/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
      ],
    });
    expect(await settled(accountId, created.requestid)).toBe("failed");
    const failed = await getPin(apiKey, created.requestid);
    expect(failed.status).toBe("failed");
    expect(failed.info.failure_reason).toContain(cid);
    const list = await api("/pinning/pins?status=failed", { headers: bearer(apiKey) });
    expect(((await list.json()) as { results: PinStatus[] }).results).toEqual([failed]);
  });

  it("replaces a pin: the new one stands under a new request id, the old one is gone", async () => {
    const { apiKey } = await signup();
    const a = await upload(apiKey, bytes(1000, 3));
    const b = await upload(apiKey, bytes(1000, 5));
    const first = await addPin(apiKey, { cid: a });
    const res = await api(
      `/pinning/pins/${first.requestid}`,
      jsonInit("POST", { cid: b, name: "b" }, bearer(apiKey)),
    );
    expect(res.status).toBe(202);
    const second = (await res.json()) as PinStatus;
    expect(second).toMatchObject({ status: "pinned", pin: { cid: b, name: "b" } });
    expect(second.requestid).not.toBe(first.requestid);
    expect(
      (await api(`/pinning/pins/${first.requestid}`, { headers: bearer(apiKey) })).status,
    ).toBe(404);
  });
});

describe("Pinning Service API: errors in the spec's shape", () => {
  it("401 without or with a bad key", async () => {
    await expectFailure(await api("/pinning/pins"), 401, "UNAUTHORIZED");
    await expectFailure(
      await api("/pinning/pins", { headers: bearer("tsk_nope") }),
      401,
      "UNAUTHORIZED",
    );
  });

  it("400 for invalid CIDs, refused origins and bad filters", async () => {
    const { apiKey } = await signup();
    const post = (body: object) => api("/pinning/pins", jsonInit("POST", body, bearer(apiKey)));
    await expectFailure(await post({ cid: "not-a-cid" }), 400, "BAD_REQUEST");
    await expectFailure(await post({}), 400, "BAD_REQUEST");
    await expectFailure(
      await post({ cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", name: "x".repeat(256) }),
      400,
      "BAD_REQUEST",
    );
    const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    for (const origin of [
      "http://127.0.0.1:8080",
      "http://localhost:8080",
      "http://10.1.2.3",
      "http://169.254.169.254",
      "/ip4/192.168.1.5/tcp/80/http",
      "http://[::1]:8080",
    ]) {
      await expectFailure(await post({ cid, origins: [origin] }), 400, "BAD_REQUEST");
    }
    const reader = await freshKey(apiKey);
    const get = (q: string) => api(`/pinning/pins?${q}`, { headers: bearer(reader) });
    const cids = Array.from({ length: 11 }, () => cid).join(",");
    for (const q of [
      "limit=0",
      "limit=1001",
      "limit=ten",
      "status=done",
      "status=",
      `cid=${cids}`,
      "cid=nope",
      "match=fuzzy",
      "meta=notjson",
      `meta=${encodeURIComponent('{"a":1}')}`,
      "before=yesterday",
      "after=2020-13-01",
    ]) {
      await expectFailure(await get(q), 400, "BAD_REQUEST");
    }
  });

  it("404 for unknown request ids and for other accounts' pins", async () => {
    const owner = await signup();
    const cid = await upload(owner.apiKey, bytes(500, 9));
    const pin = await addPin(owner.apiKey, { cid });
    const { apiKey } = await signup();
    for (const id of [pin.requestid, "pin_aaaaaaaaaaaaaaaaaaaa", "whatever"]) {
      await expectFailure(
        await api(`/pinning/pins/${id}`, { headers: bearer(apiKey) }),
        404,
        "NOT_FOUND",
      );
      await expectFailure(
        await api(`/pinning/pins/${id}`, { method: "DELETE", headers: bearer(apiKey) }),
        404,
        "NOT_FOUND",
      );
      await expectFailure(
        await api(`/pinning/pins/${id}`, jsonInit("POST", { cid }, bearer(apiKey))),
        404,
        "NOT_FOUND",
      );
    }
    const list = await api("/pinning/pins", { headers: bearer(apiKey) });
    expect(await list.json()).toEqual({ count: 0, results: [] });
    expect((await getPin(owner.apiKey, pin.requestid)).status).toBe("pinned");
  });
});

describe("Pinning Service API: filters", () => {
  it("filters by cid, name and match, status, before/after, meta, and limits with a count", async () => {
    const { accountId, apiKey } = await signup();
    const cids = [
      await upload(apiKey, bytes(100, 1)),
      await upload(apiKey, bytes(100, 2)),
      await upload(apiKey, bytes(100, 3)),
    ];
    const a = await addPin(apiKey, {
      cid: cids[0],
      name: "Report.pdf",
      meta: { app: "x", v: "1" },
    });
    const b = await addPin(apiKey, { cid: cids[1], name: "report-old.pdf", meta: { app: "x" } });
    const c = await addPin(apiKey, { cid: cids[2], name: "photo.png", meta: { app: "y" } });
    const failed = await addPin(apiKey, {
      cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    });
    expect(await settled(accountId, failed.requestid)).toBe("failed");

    let reader = await freshKey(apiKey);
    let used = 0;
    const ids = async (q: string) => {
      if (++used % 15 === 0) reader = await freshKey(apiKey);
      const res = await api(`/pinning/pins?${q}`, { headers: bearer(reader) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { count: number; results: PinStatus[] };
      return { count: body.count, ids: body.results.map((r) => r.requestid) };
    };
    // Newest first; the default status filter is `pinned` only.
    expect(await ids("")).toEqual({ count: 3, ids: [c.requestid, b.requestid, a.requestid] });
    expect(await ids("status=pinned,failed")).toMatchObject({ count: 4 });
    expect(await ids("status=failed")).toEqual({ count: 1, ids: [failed.requestid] });
    expect(await ids("status=queued,pinning")).toEqual({ count: 0, ids: [] });
    expect(await ids(`cid=${cids[0]},${cids[2]}`)).toEqual({
      count: 2,
      ids: [c.requestid, a.requestid],
    });
    expect(await ids("name=Report.pdf")).toEqual({ count: 1, ids: [a.requestid] });
    expect(await ids("name=report.pdf")).toEqual({ count: 0, ids: [] });
    expect(await ids("name=report.pdf&match=iexact")).toEqual({ count: 1, ids: [a.requestid] });
    expect(await ids("name=report&match=partial")).toEqual({ count: 1, ids: [b.requestid] });
    expect(await ids("name=REPORT&match=ipartial")).toEqual({
      count: 2,
      ids: [b.requestid, a.requestid],
    });
    expect(await ids(`meta=${encodeURIComponent('{"app":"x"}')}`)).toEqual({
      count: 2,
      ids: [b.requestid, a.requestid],
    });
    expect(await ids(`meta=${encodeURIComponent('{"app":"x","v":"1"}')}`)).toEqual({
      count: 1,
      ids: [a.requestid],
    });
    expect(await ids("limit=1")).toEqual({ count: 3, ids: [c.requestid] });
    // Paging with `before` the last result's `created` (times may tie: ties are excluded).
    const all = [a, b, c].map((p) => Date.parse(p.created));
    const before = new Date(Math.max(...all) + 1).toISOString();
    expect((await ids(`before=${before}`)).count).toBe(3);
    const after = new Date(Math.min(...all) - 1).toISOString();
    expect((await ids(`after=${after}`)).count).toBe(3);
    expect((await ids(`after=${new Date(Math.max(...all)).toISOString()}`)).count).toBe(0);
    expect((await ids(`before=${new Date(Math.min(...all)).toISOString()}`)).count).toBe(0);
  });
});
