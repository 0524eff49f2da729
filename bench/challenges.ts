// `npm run bench -- challenges`: proofs of storage for a 1 GiB pin (issue 8). How many challenges
// (a random 1 KiB chunk) a provider answers and the platform verifies per second, in process
// (`proveFromOutboard` + `verify`) and through the real path (HTTP to a running provider that
// reads the chunk from its block files and the outboard from disk, answer judged by the same
// `judge` the Pin's Replicas use), and the proof's size. Peers in the same run: hashing the 1 KiB
// chunk alone (the floor any check pays), and the naive alternative, re-hashing the whole 1 GiB
// per challenge. Figures only; nothing here is asserted.
import { createHash, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { Disk } from "../client/node/storage/disk.ts";
import { startProvider } from "../client/node/storage/provider.ts";
import { judge, randomChunk } from "../durable-objects/providers/challenge.ts";
import { blake3, init, outboard, proveFromOutboard, verify } from "../wasm/index.ts";

const MiB = 1 << 20;
const SIZE = 1024 * MiB;
const CHUNK = 1024;
const BLOCK = MiB;
const RAW = 0x55;

function randomData(size: number): Uint8Array {
  const data = new Uint8Array(size);
  const step = 64 * MiB;
  for (let at = 0; at < size; at += step) randomFillSync(data, at, Math.min(step, size - at));
  return data;
}

/** Runs `op` for about `seconds` (after a short warm-up) and answers operations per second. */
async function rate(op: () => unknown, seconds = 2): Promise<number> {
  for (let i = 0; i < 50; i++) await op();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) await op();
    n += 16;
  }
  return n / ((performance.now() - start) / 1000);
}

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3).replace(/\.?0+$/, "");

await init();
let t = performance.now();
const data = randomData(SIZE);
const root = blake3(data);
const rootHex = Buffer.from(root).toString("hex");
console.log(
  `input: 1 GiB of random bytes (${((performance.now() - t) / 1000).toFixed(1)} s to make)`,
);
t = performance.now();
const ob = outboard(data);
const outboardSeconds = (performance.now() - t) / 1000;
console.log(
  `outboard: ${(ob.length / MiB).toFixed(1)} MiB (${((100 * ob.length) / SIZE).toFixed(2)}% of the data), built once in ${outboardSeconds.toFixed(2)} s`,
);

const chunkAt = (i: number) => data.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, SIZE));
// The proof carries one CV per subtree beside the path (fewer near the file's right edge), so its
// size depends a little on the chunk: over 1,000 random chunks.
const sizes = Array.from(
  { length: 1000 },
  () => proveFromOutboard(ob, SIZE, randomChunk(SIZE)).length,
);
const proofMin = Math.min(...sizes);
const proofMax = Math.max(...sizes);
const answerJson = JSON.stringify({
  status: "proof",
  chunk: Buffer.from(chunkAt(5)).toString("base64"),
  proof: Buffer.from(proveFromOutboard(ob, SIZE, 5)).toString("base64"),
}).length;
console.log(
  `proof: ${proofMin}–${proofMax} bytes (version byte + ${(proofMin - 1 - CHUNK) / 32}–${(proofMax - 1 - CHUNK) / 32} CVs of 32 bytes + the 1 KiB last chunk, which authenticates the length); answer on the wire (JSON, base64, with the chunk): ${answerJson} bytes`,
);

// In process: the provider's work, the platform's, and both.
const prove = await rate(() => {
  const i = randomChunk(SIZE);
  return proveFromOutboard(ob, SIZE, i);
});
const prepared = Array.from({ length: 256 }, () => {
  const i = randomChunk(SIZE);
  return { i, chunk: chunkAt(i), proof: proveFromOutboard(ob, SIZE, i) };
});
let k = 0;
const check = await rate(() => {
  const p = prepared[k++ % prepared.length];
  if (!p || !verify(root, SIZE, p.i, p.chunk, p.proof)) throw new Error("proof did not verify");
});
const both = await rate(() => {
  const i = randomChunk(SIZE);
  if (!verify(root, SIZE, i, chunkAt(i), proveFromOutboard(ob, SIZE, i))) throw new Error("bad");
});
// Peers: hashing one 1 KiB chunk (no proof at all), and re-hashing the whole file per challenge.
const chunkHash = await rate(() => blake3(chunkAt(randomChunk(SIZE))));
t = performance.now();
blake3(data);
const naive = 1 / ((performance.now() - t) / 1000);

// The real path: a provider process's HTTP server (in this process), its blocks and outboard on
// disk as `tessera node --storage` keeps them; each answer judged like the Pin's Replicas judge.
const dir = mkdtempSync(join(tmpdir(), "tessera-bench-challenges-"));
let http = 0;
try {
  const disk = new Disk(dir);
  const segments: { cid: string; at: number; length: number }[] = [];
  for (let at = 0; at < SIZE; at += BLOCK) {
    const bytes = data.subarray(at, at + BLOCK);
    const digest = Digest.create(0x12, createHash("sha256").update(bytes).digest());
    const cid = CID.createV1(RAW, digest).toString();
    disk.putBlock(cid, bytes);
    segments.push({ cid, at: 0, length: bytes.length });
  }
  // The pin's name: any CID does for challenges (they never walk the DAG).
  const pinCid = CID.createV1(RAW, Digest.create(0x12, createHash("sha256").update(root).digest()));
  disk.saveOutboard(pinCid.toString(), ob);
  disk.savePin({
    cid: pinCid.toString(),
    blake3: rootHex,
    size: SIZE,
    status: "stored",
    segments,
    blocks: segments.map((s) => s.cid),
  });
  const identity = { address: "bench", sign: async () => "" };
  const provider = await startProvider({
    base: "http://127.0.0.1:1",
    dir,
    capacity: 2 * SIZE,
    identity,
    register: false,
    token: "bench-token-bench-token",
    log: () => {},
  });
  try {
    const content = { blake3: rootHex, size: SIZE };
    http = await rate(async () => {
      const chunk = randomChunk(SIZE);
      const sentAt = Date.now();
      const res = await fetch(`${provider.url}/challenges`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: "Bearer bench-token-bench-token",
        },
        body: JSON.stringify({ cid: pinCid.toString(), chunk }),
      });
      const verdict = await judge(content, { chunk, sentAt }, await res.json(), Date.now(), 30_000);
      if (!verdict.ok) throw new Error(`challenge failed: ${JSON.stringify(verdict)}`);
    }, 4);
  } finally {
    await provider.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Peer for the real path: an empty JSON POST round trip to a bare node:http server (the HTTP floor).
const bare = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
});
await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
const barePort = (bare.address() as AddressInfo).port;
const emptyPost = await rate(async () => {
  const res = await fetch(`http://127.0.0.1:${barePort}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await res.json();
});
bare.close();
bare.closeAllConnections();

const rows: [string, number][] = [
  ["prove (provider: proveFromOutboard)", prove],
  ["verify (platform: verify against the root)", check],
  ["prove + verify, in process", both],
  ["challenge over HTTP + judge (real path)", http],
  ["peer: BLAKE3 of the 1 KiB chunk alone", chunkHash],
  ["peer: re-hash the whole 1 GiB (naive)", naive],
  ["peer: empty JSON POST round trip (HTTP floor)", emptyPost],
];
console.log("\nper second, for a 1 GiB pin (one random 1 KiB chunk each):");
for (const [name, r] of rows) console.log(`  ${name.padEnd(46)} ${fmt(r).padStart(10)}/s`);
console.log("\nratios:");
console.log(`  prove + verify vs re-hashing 1 GiB:        ${fmt(both / naive)}x`);
console.log(`  real path (HTTP) vs re-hashing 1 GiB:      ${fmt(http / naive)}x`);
console.log(`  prove + verify vs hashing the chunk alone: ${fmt(both / chunkHash)}x`);
console.log(`  real path vs in process:                   ${fmt(http / both)}x`);
console.log(`  real path vs an empty HTTP round trip:     ${fmt(http / emptyPost)}x`);
