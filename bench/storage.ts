// `npm run bench -- storage`: upload throughput through `wrangler dev` next to ipfs-unixfs-importer
// computing the same CID in memory in the same run, a 1 GiB file through an upload session, and
// gateway read throughput and time to first byte.
import { performance } from "node:perf_hooks";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { startLocalNetwork } from "../scripts/local-network.ts";

/** The peer: ipfs-unixfs-importer with Kubo's unixfs-v1-2025 parameters. */
const KUBO_2025_PROFILE = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 1024 * 1024 }),
  layout: balanced({ maxChildrenPerNode: 1024 }),
} as const;

async function signup(base: string): Promise<string> {
  const res = await fetch(`${base}/v1/accounts`, { method: "POST" });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { api_key: string }).api_key;
}

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_STORAGE_MIB ?? 256) * MiB;
const SESSION_SIZE = Number(process.env.BENCH_SESSION_MIB ?? 1024) * MiB;
const PART = 64 * MiB;

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536)
    crypto.getRandomValues(out.subarray(i, Math.min(i + 65536, length)));
  return out;
}

const mbps = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(1);

async function referenceImport(data: Uint8Array) {
  const blockstore = {
    put: async (cid: unknown) => cid,
    get: async () => new Uint8Array(),
    has: async () => false,
  };
  const t0 = performance.now();
  let cid = "";
  async function* pieces() {
    for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
  }
  for await (const e of importer([{ content: pieces() }], blockstore as never, KUBO_2025_PROFILE)) {
    cid = e.cid.toString();
  }
  return { cid, ms: performance.now() - t0 };
}

const server = await startLocalNetwork({
  vars: {
    MAX_UPLOAD_REQUEST_BYTES: String(Math.max(SIZE, PART) + MiB),
    STORAGE_QUOTA_BYTES: String(8 * 1024 * MiB),
    RATE_LIMIT_PER_MINUTE: "100000",
  },
});
try {
  const key = await signup(server.base);
  const auth = { authorization: `Bearer ${key}` };
  const data = randomBytes(SIZE);

  // 0. The floor of this stack: the same bytes PUT straight into R2 as one session part (no
  // hashing, no import), then discarded.
  const openFloor = await fetch(`${server.base}/v1/uploads/sessions`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: "{}",
  });
  const floorId = ((await openFloor.json()) as { id: string }).id;
  const f0 = performance.now();
  const floorPut = await fetch(`${server.base}/v1/uploads/sessions/${floorId}/parts/1`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/octet-stream" },
    body: data,
  });
  const floorMs = performance.now() - f0;
  if (floorPut.status !== 200) throw new Error(`floor put: ${floorPut.status}`);
  await fetch(`${server.base}/v1/uploads/sessions/${floorId}`, { method: "DELETE", headers: auth });
  console.log(`plain R2 put of ${SIZE / MiB} MiB via wrangler dev: ${mbps(SIZE, floorMs)} MB/s`);

  // 1. One request of SIZE bytes through the Worker (UnixFS + BLAKE3 + R2 + Durable Objects).
  const t0 = performance.now();
  const res = await fetch(`${server.base}/v1/uploads`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/octet-stream" },
    body: data,
  });
  const uploadMs = performance.now() - t0;
  const uploaded = (await res.json()) as { cid: string };
  if (res.status !== 201)
    throw new Error(`upload failed: ${res.status} ${JSON.stringify(uploaded)}`);
  const ref = await referenceImport(data);
  console.log(
    `upload ${SIZE / MiB} MiB via wrangler dev:     ${mbps(SIZE, uploadMs)} MB/s (${uploadMs.toFixed(0)} ms)`,
  );
  console.log(
    `ipfs-unixfs-importer in memory (CID only): ${mbps(SIZE, ref.ms)} MB/s (${ref.ms.toFixed(0)} ms)`,
  );
  console.log(
    `ratio tessera/reference = ${(ref.ms / uploadMs).toFixed(3)}; CIDs equal: ${ref.cid === uploaded.cid}`,
  );
  console.log(`ratio tessera/plain R2 put = ${(floorMs / uploadMs).toFixed(2)}`);

  // 2. Gateway: whole-file read throughput and time to first byte.
  const g0 = performance.now();
  const got = await fetch(`${server.base}/ipfs/${uploaded.cid}`);
  const reader = got.body?.getReader();
  let first = 0;
  let read = 0;
  for (;;) {
    const { done, value } = (await reader?.read()) ?? { done: true, value: undefined };
    if (done) break;
    if (first === 0) first = performance.now() - g0;
    read += value.length;
  }
  const readMs = performance.now() - g0;
  console.log(
    `gateway GET /ipfs/{cid}: status ${got.status}, ${read} bytes, ${mbps(read, readMs)} MB/s, TTFB ${first.toFixed(1)} ms`,
  );

  // 3. A file of SESSION_SIZE bytes through a resumable session in PART-sized parts.
  const s0 = performance.now();
  const open = await fetch(`${server.base}/v1/uploads/sessions`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "big.bin" }),
  });
  const { id } = (await open.json()) as { id: string };
  for (let n = 1, off = 0; off < SESSION_SIZE; n++, off += PART) {
    const part = randomBytes(Math.min(PART, SESSION_SIZE - off));
    const put = await fetch(`${server.base}/v1/uploads/sessions/${id}/parts/${n}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: part,
    });
    if (put.status !== 200) throw new Error(`part ${n}: ${put.status} ${await put.text()}`);
  }
  const partsMs = performance.now() - s0;
  const c0 = performance.now();
  const done = await fetch(`${server.base}/v1/uploads/sessions/${id}/complete`, {
    method: "POST",
    headers: auth,
  });
  const completeMs = performance.now() - c0;
  const session = (await done.json()) as { cid: string; size: number };
  console.log(
    `session upload ${SESSION_SIZE / MiB} MiB: parts ${mbps(SESSION_SIZE, partsMs)} MB/s, complete ${mbps(SESSION_SIZE, completeMs)} MB/s, total ${mbps(SESSION_SIZE, partsMs + completeMs)} MB/s (status ${done.status}, ${session.size} bytes, ${session.cid})`,
  );
} finally {
  server.stop();
}
