import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInference } from "../../client/kernels/index.ts";
import { type RunningNode, startNode } from "../../client/node/node.ts";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";

/**
 * `tessera node` on Dawn with the SwiftShader Vulkan driver: two nodes (two keys, since replicas
 * need different contributors) complete an inference job bit for bit; the command exits cleanly
 * on Ctrl-C.
 */
let net: LocalNetwork;
let key = "";
const dir = mkdtempSync(join(tmpdir(), "tessera-node-"));
const nodes: RunningNode[] = [];
const lines: string[] = [];

beforeAll(async () => {
  net = await startLocalNetwork();
  const signup = await fetch(`${net.base}/v1/accounts`, { method: "POST" });
  key = ((await signup.json()) as { api_key: string }).api_key;
}, 120_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  net?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${net.base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) },
  });

async function upload(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const res = await api("/v1/uploads", {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
  });
  return ((await res.json()) as { cid: string }).cid;
}

describe("tessera node (Dawn on SwiftShader)", () => {
  it("completes an inference job whose output equals the CPU reference", async () => {
    for (let i = 0; i < 2; i++)
      nodes.push(await startNode({ base: net.base, log: (l) => lines.push(l) }));
    expect(nodes[0]?.address).not.toBe(nodes[1]?.address);

    const rows = 300;
    const cols = 64;
    const byte = (seed: number) => (i: number) =>
      ((i * 2246822519 + seed * 3266489917) >>> 24) - 128;
    const input = Int8Array.from({ length: rows * cols }, (_, i) => byte(1)(i));
    const w1 = Int8Array.from({ length: 32 * cols }, (_, i) => byte(2)(i));
    const b1 = Int32Array.from({ length: 32 }, (_, i) => i * 50 - 800);
    const w2 = Int8Array.from({ length: 10 * 32 }, (_, i) => byte(3)(i));
    const b2 = Int32Array.from({ length: 10 }, (_, i) => 100 - i * 20);
    const requant = { multiplier: 1_500_000_000, shift: 39, zero_point: -3 };
    const spec = {
      kind: "inference",
      input: { cid: await upload(new Uint8Array(input.buffer)), rows, cols, zero_point: 2 },
      layers: [
        {
          weights: await upload(new Uint8Array(w1.buffer)),
          biases: await upload(new Uint8Array(b1.buffer)),
          outputs: 32,
          activation: "relu",
          requant,
        },
        {
          weights: await upload(new Uint8Array(w2.buffer)),
          biases: await upload(new Uint8Array(b2.buffer)),
          outputs: 10,
          activation: "none",
          requant,
        },
      ],
    };
    const created = await api("/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(spec),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    let view: { status: string; result_cid: string | null } = { status: "", result_cid: null };
    while (!["completed", "failed", "cancelled"].includes(view.status)) {
      await new Promise((r) => setTimeout(r, 300));
      view = (await (await api(`/v1/jobs/${id}`)).json()) as typeof view;
    }
    expect(view.status).toBe("completed");
    const result = new Uint8Array(
      await (await fetch(`${net.base}/ipfs/${view.result_cid}`)).arrayBuffer(),
    );
    const expected = runInference(
      [
        { inputs: cols, outputs: 32, weights: w1, biases: b1, activation: "relu", requant },
        { inputs: 32, outputs: 10, weights: w2, biases: b2, activation: "none", requant },
      ],
      { rows, cols, data: input, zeroPoint: 2 },
      { start: 0, count: rows },
    );
    expect(Buffer.from(result)).toEqual(Buffer.from(expected.buffer));
    // Each node ran the job's tasks and heard them accepted; the lines say so.
    for (const n of nodes) expect(n.totals().accepted).toBeGreaterThan(0);
    expect(lines.some((l) => / accepted, earned \d+/.test(l))).toBe(true);
  }, 180_000);

  it("`tessera node` hands its leases back and exits 0 on Ctrl-C; its key file is private", async () => {
    const keyFile = join(dir, "node-key.json");
    const child = spawn(
      process.execPath,
      ["client/cli/tessera.ts", "node", "--url", net.base, "--key", keyFile],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    for (let i = 0; i < 600 && !out.includes("connected to"); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain("connected to");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(0);
    expect(out).toContain("stopped; open leases handed back");
  }, 60_000);
});
