import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { judge } from "../../durable-objects/providers/challenge.ts";
import { freePort, type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";
import { blake3, init } from "../../wasm/index.ts";

/**
 * Pinning on storage providers with proofs of storage (issue 8), end to end: the Worker under
 * `wrangler dev`, and four real `tessera node --storage` processes (three to start with, a fourth
 * that joins later). A multi-block file is pinned through the Pinning Service API and placed on
 * the three; every replica is challenged every 2 s (a random 1 KiB chunk and its BLAKE3 proof).
 * One provider's disk is wiped: its next challenge fails, it is paid nothing more, and the
 * replica is repaired onto the fourth. The R2 copy ends after R2_STAGING_TTL_SECONDS (the
 * Replicas' own TTL, not a test shortcut), and the file is read through the gateway from the
 * providers, verified; with every provider stopped it can no longer be read at all.
 */
const INTERVAL_SECONDS = 2;
const SIZE = 3 * 1024 * 1024 + 12_345; // four 1 MiB leaves under a root: five blocks
let net: LocalNetwork;
let key = "";
const file = new Uint8Array(randomBytes(SIZE));
const providers: Provider[] = [];

interface Provider {
  dir: string;
  child: ChildProcess;
  address: string;
  url: string;
  log: () => string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 60_000) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const value = await probe();
    if (value) return value;
    await sleep(200);
  }
  throw new Error(
    `timed out waiting for ${what}\n--- worker ---\n${net.log().slice(-4000)}\n${providers
      .map((p, i) => `--- provider ${i} ---\n${p.log().slice(-1500)}`)
      .join("\n")}`,
  );
}

async function startProvider(existingDir?: string): Promise<Provider> {
  const dir = existingDir ?? mkdtempSync(join(tmpdir(), "tessera-provider-"));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "client/cli/tessera.ts",
      "node",
      "--storage",
      dir,
      "--capacity",
      "1G",
      "--url",
      net.base,
      "--listen",
      `127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout?.on("data", (d) => {
    log += d;
  });
  child.stderr?.on("data", (d) => {
    log += d;
  });
  const provider: Provider = { dir, child, address: "", url: "", log: () => log };
  providers.push(provider);
  const started = await until("the provider to register", async () =>
    log.match(/storage provider (\S+) at (\S+),/),
  );
  provider.address = started[1] ?? "";
  provider.url = started[2] ?? "";
  return provider;
}

async function stopProvider(p: Provider): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGTERM");
  await exited;
}

interface PinStatus {
  requestid: string;
  status: string;
  info: Record<string, string>;
}

const pinning = (path: string, init: RequestInit = {}) =>
  fetch(`${net.base}/pinning${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) },
  });

async function providerView(p: Provider) {
  const res = await fetch(`${net.base}/v1/providers/${p.address}`);
  expect(res.status).toBe(200);
  return (await res.json()) as {
    failures: number;
    pay: { periods: number; owed: number; paid: number };
  };
}

/** True when the provider's disk holds the pin, stored (its record says so, its blocks are there). */
function holds(p: Provider, cid: string): boolean {
  try {
    const pins = readdirSync(join(p.dir, "pins"));
    return pins.includes(`${cid}.json`) && pins.includes(`${cid}.outboard`);
  } catch {
    return false;
  }
}

beforeAll(async () => {
  net = await startLocalNetwork({
    vars: {
      CHALLENGE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
      CHALLENGE_DEADLINE_SECONDS: "10",
      REPLICA_FETCH_SECONDS: "60",
      // High enough that every 2 s period of a few MiB earns whole base units.
      PROVIDER_PRICE_GIB_HOUR_MICROS: "1000000000000",
      R2_STAGING_TTL_SECONDS: "4",
      PIN_REPLICAS: "3",
    },
  });
  const signup = await fetch(`${net.base}/v1/accounts`, { method: "POST" });
  key = ((await signup.json()) as { api_key: string }).api_key;
  for (let i = 0; i < 3; i++) await startProvider();
}, 180_000);

afterAll(async () => {
  for (const p of providers) {
    await stopProvider(p);
    rmSync(p.dir, { recursive: true, force: true });
  }
  net?.stop();
});

describe("pinning on storage providers", () => {
  let cid = "";
  let requestid = "";

  it("pins a multi-block file on three providers: queued → pinning → pinned", async () => {
    const up = await fetch(`${net.base}/v1/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/octet-stream" },
      body: file,
    });
    expect(up.status).toBe(201);
    cid = ((await up.json()) as { cid: string }).cid;

    const created = await pinning("/pins", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cid, name: "providers-e2e" }),
    });
    expect(created.status).toBe(202);
    const first = (await created.json()) as PinStatus;
    requestid = first.requestid;
    const seen = [first.status];
    const pinned = await until("the pin to be pinned", async () => {
      const view = (await (await pinning(`/pins/${requestid}`)).json()) as PinStatus;
      if (seen.at(-1) !== view.status) seen.push(view.status);
      return view.status === "pinned" && view;
    });
    // Every status seen, in order, is a step of queued → pinning → pinned (a fast step may pass
    // between two polls); it went through pinning, waiting for the providers' first proofs.
    const order = ["queued", "pinning", "pinned"];
    expect(seen.map((s) => order.indexOf(s))).toEqual(
      [...seen.map((s) => order.indexOf(s))].sort((a, b) => a - b),
    );
    expect(seen).toContain("pinning");
    expect(pinned.info.replicas).toBe("3");
    for (const p of providers) expect(holds(p, cid)).toBe(true);
    expect(providers[0]?.log()).toMatch(/stored .* \(3158073 bytes, 5 blocks\)/);
  });

  it("pays providers for proven periods", async () => {
    for (const p of providers) {
      await until("a paid period", async () => (await providerView(p)).pay.periods >= 2);
      const view = await providerView(p);
      expect(view.failures).toBe(0);
      expect(view.pay.owed).toBeGreaterThan(0);
      // Paid out of metered storage revenue: never more than the periods earned.
      expect(view.pay.paid).toBeLessThanOrEqual(view.pay.owed);
    }
  });

  it("reads the file through the gateway from the providers once the R2 copy has ended", async () => {
    await until("the R2 staging copy to end", async () =>
      /R2 copy of \S+ dropped \(5 blocks\)/.test(net.log()),
    );
    const res = await fetch(`${net.base}/ipfs/${cid}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(file))).toBe(true);
  });

  it("catches a wiped provider at its next challenge, pays it nothing more and repairs onto a fresh one", async () => {
    const fourth = await startProvider();
    const [faulty, ...honest] = providers.slice(0, 3) as [Provider, Provider, Provider];
    rmSync(join(faulty.dir, "blocks"), { recursive: true, force: true });
    rmSync(join(faulty.dir, "pins"), { recursive: true, force: true });

    const caught = await until("the wiped provider's challenge to fail", async () => {
      const view = await providerView(faulty);
      return view.failures >= 1 && view;
    });
    const honestAtCatch = await Promise.all(honest.map(providerView));

    // The repair: the fourth provider fetches the content (from the gateway, which now reads it
    // from the two remaining providers, R2's copy being gone) and proves it.
    await until("the repair onto the fourth provider", async () => holds(fourth, cid));
    await until("three proven replicas again", async () => {
      const view = (await (await pinning(`/pins/${requestid}`)).json()) as PinStatus;
      return view.status === "pinned" && view.info.replicas === "3";
    });
    await until("the fourth provider's first paid period", async () => {
      return (await providerView(fourth)).pay.periods >= 1;
    });
    // Honest providers keep earning; the faulty one earned nothing after it was caught.
    await until("honest providers' next periods", async () => {
      const now = await Promise.all(honest.map(providerView));
      return now.every((v, i) => v.pay.periods > (honestAtCatch[i]?.pay.periods ?? 0));
    });
    const after = await providerView(faulty);
    expect(after.pay.periods).toBe(caught.pay.periods);
    expect(after.pay.owed).toBe(caught.pay.owed);
    expect(after.failures).toBe(1);
    // It was told to drop the content; the honest ones still hold it.
    expect(holds(faulty, cid)).toBe(false);
    for (const p of honest) expect(holds(p, cid)).toBe(true);
  });

  it("serves the file only from providers: with all of them stopped it is gone", async () => {
    const verified = await fetch(`${net.base}/ipfs/${cid}?format=car`);
    expect(verified.status).toBe(200);
    await verified.arrayBuffer();
    for (const p of providers) await stopProvider(p);
    const res = await fetch(`${net.base}/ipfs/${cid}`);
    expect(res.status).not.toBe(200);
    await res.arrayBuffer();
  });

  it("keeps what it stored across a restart: the restarted provider proves it and serves its blocks", async () => {
    const fourth = providers[3] as Provider;
    const again = await startProvider(fourth.dir);
    // Same key file in the same directory: the same address.
    expect(again.address).toBe(fourth.address);
    await init();
    const content = { blake3: Buffer.from(blake3(file)).toString("hex"), size: SIZE };
    // Challenges come from the platform only: they carry the token the registry handed this
    // provider (kept in its directory), and a call without it is refused.
    const token = readFileSync(join(again.dir, "platform-token"), "utf8");
    const challenge = (chunk: number, authorization?: string) =>
      fetch(`${again.url}/challenges`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ cid, chunk }),
      });
    const anonymous = await challenge(0);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    expect((await challenge(0, "Bearer not-the-token-at-all-no")).status).toBe(401);
    for (const chunk of [0, 1234, Math.floor((SIZE - 1) / 1024)]) {
      const sentAt = Date.now();
      const res = await challenge(chunk, `Bearer ${token}`);
      const verdict = await judge(content, { chunk, sentAt }, await res.json(), sentAt, 60_000);
      expect(verdict).toEqual({ ok: true });
    }
    const root = await fetch(`${again.url}/ipfs/${cid}?format=raw`);
    expect(root.status).toBe(200);
    expect(root.headers.get("content-type")).toBe("application/vnd.ipld.raw");
    const bytes = new Uint8Array(await root.arrayBuffer());
    expect(
      createHash("sha256").update(bytes).digest().equals(CID.parse(cid).multihash.digest),
    ).toBe(true);
  });
});
