import { createServer, type IncomingMessage, type Server } from "node:http";
import { CarReader } from "@ipld/car";
import { blake3 } from "hash-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";
import { OPERATIONS, type SpecResponse, specClient } from "./pins-spec-client.ts";

/**
 * The Pinning Service API over real HTTP, with a client built only from the spec's OpenAPI
 * document (every response validated against the spec's schemas), and pins fetched from real
 * origins: `origin` is a second Tessera node holding the content (a trustless gateway), reached
 * directly or through `gate`, a proxy that holds requests until the test lets them through (so
 * `pinning` can be observed); `liar` answers wrong bytes for everything; `kubo` is a stand-in for
 * a Kubo RPC endpoint that accepts `/api/v0/dag/import` and records the CAR it was sent.
 */
let origin: LocalNetwork;
let edge: LocalNetwork;
const servers: Server[] = [];
let liarBase = "";
let gateBase = "";
let kuboBase = "";
let closedBase = "";
let gateOpen = false;
const held: (() => void)[] = [];
const kuboImports: { contentType: string; roots: string[]; blocks: number; accepted: boolean }[] =
  [];
const kuboRefused = new Set<string>();
let fileCid = "";
let smallCid = "";
/** Content only the origin holds, one per origins test, so no test finds another's blocks in R2. */
const only: { cid: string; bytes: Uint8Array }[] = [];
let liarHits = 0;
const file = new Uint8Array(2 * 1024 * 1024 + 999).map((_, i) => (i * 31 + (i >>> 20) * 5) & 0xff);

function listen(handler: (req: IncomingMessage, res: import("node:http").ServerResponse) => void) {
  const server = createServer(handler);
  servers.push(server);
  return new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(`http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`);
    }),
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  liarBase = await listen((req, res) => {
    liarHits++;
    res.writeHead(200, { "content-type": "application/vnd.ipld.raw" });
    res.end(Buffer.from(`these are not the bytes of ${req.url}`));
  });
  kuboBase = await listen(async (req, res) => {
    const body = await readBody(req);
    const contentType = req.headers["content-type"] ?? "";
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method !== "POST" || url.pathname !== "/api/v0/dag/import") {
      res.writeHead(404).end();
      return;
    }
    // Parse the multipart body with the platform's own parser and read the CAR inside it.
    const form = await new Response(new Uint8Array(body), {
      headers: { "content-type": contentType },
    }).formData();
    const part = form.get("file");
    if (!(part instanceof Blob)) {
      res.writeHead(400).end("no file part");
      return;
    }
    const car = await CarReader.fromBytes(new Uint8Array(await part.arrayBuffer()));
    let blocks = 0;
    for await (const _ of car.blocks()) blocks++;
    const roots = (await car.getRoots()).map((r) => r.toString());
    // The first import of each root fails, as a Kubo node that is down would: the pin must stay
    // pinned and the bridge must try again.
    const first = !kuboRefused.has(roots.join());
    kuboRefused.add(roots.join());
    kuboImports.push({ contentType, roots, blocks, accepted: !first });
    if (first) res.writeHead(500).end("not now");
    else res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  // A port nothing listens on: connections are refused.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const ca = closed.address();
  closedBase = `http://127.0.0.1:${typeof ca === "object" && ca ? ca.port : 0}`;
  await new Promise((r) => closed.close(r));

  origin = await startLocalNetwork();
  const signup = await fetch(`${origin.base}/v1/accounts`, { method: "POST" });
  const { api_key } = (await signup.json()) as { api_key: string };
  const put = async (bytes: Uint8Array<ArrayBuffer>) => {
    const up = await fetch(`${origin.base}/v1/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${api_key}`, "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(up.status).toBe(201);
    return ((await up.json()) as { cid: string }).cid;
  };
  fileCid = await put(file);
  smallCid = await put(new TextEncoder().encode("a small file held only by the origin\n"));
  for (const seed of [3, 5, 7]) {
    const bytes = new Uint8Array(1024 * 1024 + 5000 * seed).map(
      (_, i) => (i * seed + (i >>> 20)) & 0xff,
    );
    only.push({ cid: await put(bytes), bytes });
  }
  gateBase = await listen(async (req, res) => {
    if (!gateOpen) await new Promise<void>((r) => held.push(r));
    try {
      // A fresh connection each time: a kept-alive one the origin already closed fails the read.
      const upstream = await fetch(`${origin.base}${req.url}`, {
        headers: { accept: req.headers.accept ?? "*/*", connection: "close" },
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, {
        "content-type": upstream.headers.get("content-type") ?? "",
      });
      res.end(body);
    } catch {
      // The Pin may have given up on this request (its per-request timeout): nothing to answer.
      if (!res.headersSent) res.writeHead(502).end();
    }
  });

  edge = await startLocalNetwork({
    vars: {
      PIN_ALLOW_LOOPBACK_ORIGINS: "true",
      PIN_FETCH_TIMEOUT_SECONDS: "8",
      KUBO_RPC_URL: kuboBase,
    },
  });
}, 240_000);

afterAll(() => {
  edge?.stop();
  origin?.stop();
  for (const s of servers) s.close();
});

async function account(): Promise<string> {
  const res = await fetch(`${edge.base}/v1/accounts`, { method: "POST" });
  return ((await res.json()) as { api_key: string }).api_key;
}

interface PinStatus {
  requestid: string;
  status: string;
  created: string;
  pin: { cid: string; name?: string };
  info?: Record<string, string>;
}
const status = (r: SpecResponse) => r.body as PinStatus;

/** Polls getPinByRequestId until the pin reaches one of `states` (the Pin works in its alarm). */
async function until(
  call: ReturnType<typeof specClient>,
  requestid: string,
  states: string[],
): Promise<PinStatus> {
  for (let i = 0; i < 300; i++) {
    const r = await call("getPinByRequestId", { requestid });
    expect(r.status).toBe(200);
    if (states.includes(status(r).status)) return status(r);
    await new Promise((res) => setTimeout(res, 150));
  }
  throw new Error(`pin ${requestid} never reached ${states.join("|")}`);
}

describe("Pinning Service API, spec client", () => {
  it("the spec has exactly the five operations this suite exercises", () => {
    expect(OPERATIONS.sort()).toEqual(
      [
        "getPins",
        "addPin",
        "getPinByRequestId",
        "replacePinByRequestId",
        "deletePinByRequestId",
      ].sort(),
    );
  });

  it("pins content from an origin through queued → pinning → pinned, verified, listed by every filter", async () => {
    const call = specClient(`${edge.base}/pinning`, await account());
    gateOpen = false;
    const add = await call("addPin", {
      body: { cid: fileCid, name: "Big File.bin", origins: [gateBase], meta: { app: "spec" } },
    });
    expect(add.status).toBe(202);
    const created = status(add);
    expect(["queued", "pinning"]).toContain(created.status);
    const q =
      created.status === "queued" ? await until(call, created.requestid, ["pinning"]) : created;
    expect(q.status).toBe("pinning");
    const inFlight = await call("getPins", { query: { status: ["queued", "pinning"] } });
    expect((inFlight.body as { results: PinStatus[] }).results.map((r) => r.requestid)).toEqual([
      created.requestid,
    ]);
    expect(
      ((await call("getPins", {})).body as { count: number }).count,
      "the default lists pinned only",
    ).toBe(0);
    gateOpen = true;
    for (const release of held.splice(0)) release();
    const pinned = await until(call, created.requestid, ["pinned", "failed"]);
    expect(pinned.status).toBe("pinned");

    const list = async (
      query: Record<string, string | string[] | number | Record<string, string>>,
    ) => {
      const r = await call("getPins", { query });
      expect(r.status).toBe(200);
      return (r.body as { results: PinStatus[] }).results.map((p) => p.requestid);
    };
    const mine = [created.requestid];
    // The account's index learns the state from the Pin object just after it changes.
    for (let i = 0; i < 50 && (await list({})).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await list({})).toEqual(mine);
    expect(await list({ cid: [fileCid] })).toEqual(mine);
    expect(await list({ cid: [smallCid] })).toEqual([]);
    expect(await list({ name: "Big File.bin" })).toEqual(mine);
    expect(await list({ name: "big file.bin", match: "iexact" })).toEqual(mine);
    expect(await list({ name: "File", match: "partial" })).toEqual(mine);
    expect(await list({ name: "file", match: "ipartial" })).toEqual(mine);
    expect(await list({ name: "file", match: "exact" })).toEqual([]);
    expect(await list({ status: ["pinned"] })).toEqual(mine);
    expect(await list({ status: ["failed"] })).toEqual([]);
    expect(await list({ before: new Date(Date.parse(created.created) + 1).toISOString() })).toEqual(
      mine,
    );
    expect(await list({ after: new Date(Date.parse(created.created) - 1).toISOString() })).toEqual(
      mine,
    );
    expect(await list({ after: created.created })).toEqual([]);
    expect(await list({ limit: 1 })).toEqual(mine);
    expect(await list({ meta: { app: "spec" } })).toEqual(mine);
    expect(await list({ meta: { app: "other" } })).toEqual([]);

    // The edge now serves it from its own R2, every block verified.
    const served = await fetch(`${edge.base}/ipfs/${fileCid}`);
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(file);
  });

  it("replaces and deletes pins; the spec's errors for bad input, unknown ids, other accounts", async () => {
    const token = await account();
    const call = specClient(`${edge.base}/pinning`, token);
    const a = status(await call("addPin", { body: { cid: smallCid, origins: [origin.base] } }));
    expect((await until(call, a.requestid, ["pinned", "failed"])).status).toBe("pinned");
    const replaced = await call("replacePinByRequestId", {
      requestid: a.requestid,
      body: { cid: smallCid, name: "renamed" },
    });
    expect(replaced.status).toBe(202);
    const b = status(replaced);
    expect(b.pin.name).toBe("renamed");
    expect((await call("getPinByRequestId", { requestid: a.requestid })).status).toBe(404);

    const stranger = specClient(`${edge.base}/pinning`, await account());
    const expectFailure = async (r: Promise<SpecResponse>, code: number, reason: string) => {
      const res = await r;
      expect(res.status).toBe(code);
      expect((res.body as { error: { reason: string } }).error.reason).toBe(reason);
    };
    await expectFailure(
      stranger("getPinByRequestId", { requestid: b.requestid }),
      404,
      "NOT_FOUND",
    );
    await expectFailure(
      stranger("deletePinByRequestId", { requestid: b.requestid }),
      404,
      "NOT_FOUND",
    );
    await expectFailure(
      stranger("replacePinByRequestId", { requestid: b.requestid, body: { cid: smallCid } }),
      404,
      "NOT_FOUND",
    );
    await expectFailure(
      call("getPinByRequestId", { requestid: "pin_zzzzzzzzzzzzzzzzzzzz" }),
      404,
      "NOT_FOUND",
    );
    await expectFailure(call("addPin", { body: { cid: "bafyNOTACID" } }), 400, "BAD_REQUEST");
    await expectFailure(call("getPins", { query: { limit: 0 } }), 400, "BAD_REQUEST");
    await expectFailure(call("getPins", { query: { limit: 1001 } }), 400, "BAD_REQUEST");
    await expectFailure(call("getPins", { query: { status: ["lost"] } }), 400, "BAD_REQUEST");
    await expectFailure(
      call("getPins", {
        query: { cid: Array.from({ length: 11 }, (_, i) => `${smallCid}${"x".repeat(i)}`) },
      }),
      400,
      "BAD_REQUEST",
    );
    await expectFailure(call("getPins", { query: { match: "sounds-like" } }), 400, "BAD_REQUEST");
    await expectFailure(call("getPins", { query: { before: "last week" } }), 400, "BAD_REQUEST");
    await expectFailure(call("getPins", { token: null }), 401, "UNAUTHORIZED");
    await expectFailure(call("getPins", { token: "not-a-key" }), 401, "UNAUTHORIZED");

    const del = await call("deletePinByRequestId", { requestid: b.requestid });
    expect(del.status).toBe(202);
    await expectFailure(call("getPinByRequestId", { requestid: b.requestid }), 404, "NOT_FOUND");
    const left = await call("getPins", {
      query: { status: ["queued", "pinning", "pinned", "failed"] },
    });
    expect(left.body).toEqual({ count: 0, results: [] });
  });
});

describe("origins", () => {
  it("skips a lying origin and takes the verified bytes from the next", async () => {
    const token = await account();
    const call = specClient(`${edge.base}/pinning`, token);
    const { cid, bytes } = only[0] as (typeof only)[number];
    const hits = liarHits;
    const r = await call("addPin", { body: { cid, origins: [liarBase, origin.base] } });
    const done = await until(call, status(r).requestid, ["pinned", "failed"]);
    expect(done.status).toBe("pinned");
    expect(liarHits).toBeGreaterThan(hits); // asked first, and its bytes refused
    const up = await fetch(`${edge.base}/v1/uploads/${cid}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const record = (await up.json()) as { size: number; blake3: string; kind: string };
    expect(record).toMatchObject({ kind: "file", size: bytes.length, blake3: await blake3(bytes) });
    const served = await fetch(`${edge.base}/ipfs/${cid}`);
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
  });

  it("fails a pin whose only origin lies, with the reason", async () => {
    const call = specClient(`${edge.base}/pinning`, await account());
    const r = await call("addPin", { body: { cid: only[1]?.cid, origins: [liarBase] } });
    const done = await until(call, status(r).requestid, ["pinned", "failed"]);
    expect(done.status).toBe("failed");
    expect(done.info?.failure_reason).toContain("not found or not verified");
  });

  it("fails a pin whose origin is unreachable, with the reason, within PIN_FETCH_TIMEOUT_SECONDS", async () => {
    const call = specClient(`${edge.base}/pinning`, await account());
    const r = await call("addPin", {
      body: {
        cid: only[2]?.cid,
        origins: [`/ip4/127.0.0.1/tcp/${new URL(closedBase).port}/http`],
      },
    });
    const done = await until(call, status(r).requestid, ["pinned", "failed"]);
    expect(done.status).toBe("failed");
    expect(done.info?.failure_reason).toContain("PIN_FETCH_TIMEOUT_SECONDS");
    expect(done.info?.failure_reason).toContain(closedBase);
  });
});

describe("Kubo bridge", () => {
  it("imports pinned content into the configured Kubo node as a multipart CAR, retrying a failure", async () => {
    const accepted = () => kuboImports.find((k) => k.roots.includes(fileCid) && k.accepted);
    for (let i = 0; i < 300 && !accepted(); i++) await new Promise((r) => setTimeout(r, 100));
    const attempts = kuboImports.filter((k) => k.roots.includes(fileCid));
    expect(attempts.map((k) => k.accepted)).toEqual([false, true]);
    expect(accepted()?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(accepted()?.blocks).toBe(4);
  });
});
