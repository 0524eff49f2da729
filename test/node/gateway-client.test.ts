import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createVerifiedFetch, type VerifiedFetch } from "@helia/verified-fetch";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import type { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockKey } from "../../durable-objects/storage/blocks.ts";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";

/**
 * The gateway as an IPFS client sees it: `wrangler dev` (as `npm start` runs it) serves blocks
 * seeded into its local R2, and @helia/verified-fetch, pointed at it as its only trustless gateway,
 * fetches a file and a directory path, checking every block against its CID.
 *
 * The blocks are imported here in Node with ipfs-unixfs-importer (Kubo's unixfs-v1-2025 profile)
 * and written with `wrangler r2 bulk put --local` before the server starts, so this test depends on
 * nothing but the gateway.
 */
const run = promisify(execFile);

const PROFILE = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 1048576 }),
  layout: balanced({ maxChildrenPerNode: 1024 }),
} as const;

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const blocks = new Map<string, { cid: CID; bytes: Uint8Array }>();
const blockstore = {
  async put(cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    const parts: Uint8Array[] = [];
    if (bytes instanceof Uint8Array) parts.push(bytes);
    else for await (const p of bytes) parts.push(p);
    blocks.set(cid.toString(), { cid, bytes: Buffer.concat(parts) });
    return cid;
  },
};

async function importAll(source: { path?: string; content: Uint8Array }[], wrap: boolean) {
  let root: CID | undefined;
  for await (const e of importer(source, blockstore, { ...PROFILE, wrapWithDirectory: wrap }))
    root = e.cid;
  if (!root) throw new Error("nothing imported");
  return root;
}

const file = bytesOf(2 * 1048576 + 4321, 11);
const nested = new TextEncoder().encode("a file inside a directory\n");
let fileCid: CID;
let dirCid: CID;
let server: LocalNetwork | undefined;
let state: string;
let baseUrl: string;
let verifiedFetch: VerifiedFetch;

beforeAll(async () => {
  fileCid = await importAll([{ content: file }], false);
  dirCid = await importAll(
    [
      { path: "docs/readme.txt", content: nested },
      { path: "docs/other.bin", content: bytesOf(5000, 12) },
    ],
    true,
  );

  state = mkdtempSync(join(tmpdir(), "tessera-gateway-client-"));
  const pairs = [...blocks.values()].map(({ cid, bytes }, i) => {
    const path = join(state, `block-${i}`);
    writeFileSync(path, bytes);
    return { key: blockKey(cid), file: path };
  });
  writeFileSync(join(state, "pairs.json"), JSON.stringify(pairs));
  const persist = join(state, "wrangler");
  await run(
    "wrangler",
    [
      "r2",
      "bulk",
      "put",
      "tessera-blocks",
      "--filename",
      join(state, "pairs.json"),
      "--local",
      "--persist-to",
      persist,
      "-y",
    ],
    { env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );

  server = await startLocalNetwork({ stateDir: persist });
  baseUrl = server.base;

  // The gateway is the client's only source. Without the libp2p parts (no transports, no DHT, no
  // discovery) the client asks it at once instead of first waiting on a DHT with no peers.
  verifiedFetch = await createVerifiedFetch({
    gateways: [baseUrl],
    routers: [],
    allowInsecure: true,
    allowLocal: true,
    libp2pConfig: { services: {}, transports: [], peerDiscovery: [], addresses: { listen: [] } },
  });
}, 120_000);

afterAll(async () => {
  await verifiedFetch?.stop();
  server?.stop();
  if (state) rmSync(state, { recursive: true, force: true });
});

describe("an IPFS client verifying every block gets the original bytes", () => {
  it("for a multi-block file", async () => {
    const res = await verifiedFetch(`ipfs://${fileCid}`);
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.length).toBe(file.length);
    expect(sha256(body)).toBe(sha256(file));
  });

  it("for a file by directory path", async () => {
    const res = await verifiedFetch(`ipfs://${dirCid}/docs/readme.txt`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(nested);
  });

  it("and the gateway itself answers the same bytes over plain HTTP", async () => {
    const res = await fetch(`${baseUrl}/ipfs/${dirCid}/docs/readme.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toMatch(/^"bafkrei/);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(nested);
  });
});
