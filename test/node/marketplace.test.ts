import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeInference, runInference } from "../../client/kernels/index.ts";
import { ContributorClient, type Kernel } from "../../client/node/contributor-client.ts";
import { cpuKernel } from "../../client/node/cpu-kernel.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";
import { pngPixels } from "../fixtures/png.ts";
import { referenceImage } from "../fixtures/render.ts";

/**
 * The marketplace end to end, over real HTTP and real WebSockets against `wrangler dev`: a
 * customer submits a render job and an inference job; simulated contributors running the CPU
 * references take them: honest ones, a slow one (its lease expires), one that disconnects
 * mid-task and one that lies. The outputs must equal the CPU reference, the liar must be caught
 * and unpaid, and the books must balance to the base unit.
 */
const LEASE_SECONDS = 3;
let net: LocalNetwork;
let key = "";
const everyone: ContributorClient[] = [];

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${net.base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) },
  });

beforeAll(async () => {
  net = await startLocalNetwork({ vars: { LEASE_SECONDS: String(LEASE_SECONDS) } });
  const signup = await fetch(`${net.base}/v1/accounts`, { method: "POST" });
  key = ((await signup.json()) as { api_key: string }).api_key;
  inference = await prepareInference();
}, 120_000);

afterAll(() => {
  for (const c of everyone) c.stop();
  net?.stop();
});

async function contributor(kernel: Kernel, slots = 2, batch = 1): Promise<ContributorClient> {
  const c = new ContributorClient({ base: net.base, kernel, slots, batch });
  everyone.push(c);
  await c.start();
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(done: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await sleep(100);
}

/** Honest output, then every byte changed: what a contributor skipping the work might send. */
function lying(base: Kernel): Kernel {
  return async (task) => {
    const honest = await base(task);
    return honest.map((b) => (b + 77) & 0xff);
  };
}

/** Computes the right answer, but only after the lease has run out. */
function slow(base: Kernel): Kernel {
  return async (task) => {
    await sleep(LEASE_SECONDS * 1000 + 1500);
    return base(task);
  };
}

interface JobView {
  id: string;
  status: string;
  tasks: { total: number; done: number };
  cost: number;
  result_cid: string | null;
  quote: { total: number; compute_cost: number; platform_fee: number };
  settlement: { charged: number; contributors: number; platform_fee: number } | null;
}

async function submit(spec: unknown): Promise<JobView> {
  const res = await api("/v1/jobs", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify(spec),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as JobView;
}

async function finished(id: string): Promise<JobView> {
  let view: JobView | undefined;
  for (let i = 0; i < 600; i++) {
    view = (await (await api(`/v1/jobs/${id}`)).json()) as JobView;
    if (["completed", "failed", "cancelled"].includes(view.status)) return view;
    await sleep(200);
  }
  throw new Error(`job ${id} did not finish: ${JSON.stringify(view)}\n${net.log().slice(-3000)}`);
}

async function download(cid: string): Promise<Uint8Array> {
  const res = await fetch(`${net.base}/ipfs/${cid}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

const scene: unknown = {
  kind: "render",
  width: 160,
  height: 100,
  samples_per_pixel: 6,
  max_bounces: 4,
  seed: 7,
  scene: {
    camera: { position: [0, 1.2, 4], look_at: [0, 0.5, 0], vfov: 40 },
    sky: { top: [0.9, 0.95, 1], bottom: [0.2, 0.2, 0.25] },
    materials: [
      { type: "diffuse", albedo: [0.8, 0.3, 0.2] },
      { type: "metal", albedo: [0.9, 0.9, 0.9], fuzz: 0.1 },
      { type: "diffuse", albedo: [0.5, 0.5, 0.5] },
    ],
    spheres: [
      { center: [-0.6, 0.5, 0], radius: 0.5, material: 0 },
      { center: [0.6, 0.5, 0], radius: 0.5, material: 1 },
    ],
    planes: [{ point: [0, 0, 0], normal: [0, 1, 0], material: 2 }],
    meshes: [],
  },
};

/** An inference job over blobs uploaded to this network: the spec and the bytes behind it. */
async function prepareInference() {
  const rows = 4000;
  const cols = 256;
  const widths = [256, 16];
  const bytes = (n: number, seed: number) =>
    Uint8Array.from(
      { length: n },
      (_, i) => (i * 2654435761 + seed * 40503) >>> 24,
    ) as Uint8Array<ArrayBuffer>;
  const upload = async (body: Uint8Array<ArrayBuffer>) => {
    const res = await api("/v1/uploads", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { cid: string }).cid;
  };
  const input = bytes(rows * cols, 1);
  const blobs: { weights: Uint8Array; biases: Uint8Array }[] = [];
  const layers = [];
  let width = cols;
  for (const [k, outputs] of widths.entries()) {
    const weights = bytes(outputs * width, 10 + k);
    const biases = new Uint8Array(
      new Int32Array(outputs).map((_, i) => (i % 7) * 100 - 300).buffer,
    );
    blobs.push({ weights, biases });
    layers.push({
      weights: await upload(weights),
      biases: await upload(biases),
      outputs,
      activation: k < widths.length - 1 ? "relu" : "none",
      requant: { multiplier: 1_518_500_250, shift: 45, zero_point: 0 },
    });
    width = outputs;
  }
  const spec = {
    kind: "inference",
    input: { cid: await upload(input), rows, cols, zero_point: 0 },
    layers,
  };
  return { spec, input, blobs, rows };
}

interface Books {
  charged: number;
  fees: number;
}
const books: Books = { charged: 0, fees: 0 };
let inference: Awaited<ReturnType<typeof prepareInference>>;
let inferenceJob = "";

describe("the marketplace end to end (wrangler dev, WebSockets, CPU references)", () => {
  let honest: ContributorClient[] = [];
  let liar: ContributorClient;
  let laggard: ContributorClient;

  it("completes a render job (beside an inference job) with slow, vanishing and lying contributors; the image equals the CPU reference", async () => {
    const reference = cpuKernel(net.base);
    // The troublemakers connect first, so the first leases go to them.
    laggard = await contributor(slow(reference));
    // Takes a task and drops its connection without answering.
    const dropper = await contributor(() => {
      dropper.stop();
      return new Promise<Uint8Array>(() => {});
    });
    liar = await contributor(lying(reference));
    honest = [
      await contributor(reference),
      await contributor(reference),
      // This one takes its tasks in batches (docs/protocol.md, Batches): 2 slots × 3 tasks.
      await contributor(reference, 2, 3),
    ];

    const job = await submit(scene);
    expect(["queued", "running"]).toContain(job.status);
    // The inference job runs at the same time, on the same contributors.
    inferenceJob = (await submit(inference.spec)).id;
    expect(job.tasks.total).toBe(6);
    const done = await finished(job.id);
    expect(done.status).toBe("completed");
    expect(done.tasks).toEqual({ total: 6, done: 6 });

    // The image is the CPU reference's, pixel for pixel.
    const spec = RenderSpec.parse(scene);
    const expected = referenceImage(spec, job.id);
    const png = await download(done.result_cid as string);
    expect(Buffer.from(png.subarray(1, 4)).toString()).toBe("PNG");
    expect(Buffer.from(pngPixels(png, spec.width, spec.height))).toEqual(Buffer.from(expected));

    // Every task was paid for `replication` agreeing results: the quote, exactly.
    expect(done.settlement).toEqual({
      charged: done.quote.total,
      contributors: done.quote.compute_cost,
      platform_fee: done.quote.platform_fee,
    });
    books.charged += done.settlement?.charged ?? 0;
    books.fees += done.settlement?.platform_fee ?? 0;

    // The liar was caught on every result it sent and earned nothing.
    expect(liar.stats.tasks).toBeGreaterThan(0);
    expect(liar.stats.accepted).toBe(0);
    expect(liar.stats.earned).toBe(0);
    // The contributor taking batches worked and was paid per task like the others.
    const batcher = honest[2] as ContributorClient;
    expect(batcher.stats.tasks).toBeGreaterThan(0);
    expect(batcher.stats.accepted).toBeGreaterThan(0);
  }, 180_000);

  it("completes the inference job; the output matrix is the CPU reference's, byte for byte", async () => {
    const { spec, input, blobs, rows } = inference;
    const done = await finished(inferenceJob);
    expect(done.status).toBe("completed");

    const parsed = decodeInference(spec as never, input, blobs);
    const expected = runInference(parsed.layers, parsed.input, { start: 0, count: rows });
    const result = await download(done.result_cid as string);
    expect(Buffer.from(result)).toEqual(Buffer.from(expected.buffer));
    expect(done.settlement?.charged).toBe(done.quote.total);
    books.charged += done.settlement?.charged ?? 0;
    books.fees += done.settlement?.platform_fee ?? 0;
  }, 180_000);

  it("catches the liar, pays nobody twice, and the books balance to the base unit", async () => {
    const record = async (c: ContributorClient) =>
      (await (await fetch(`${net.base}/v1/contributors/${c.address}`)).json()) as {
        trust: string;
        record: { accepted: number; rejected: number };
        earnings: { available: number; paid: number };
      };
    // Settlement reaches the contributors through the jobs' outboxes: wait for it to land.
    let earned = 0;
    for (let i = 0; i < 50; i++) {
      earned = 0;
      for (const c of everyone) earned += (await record(c)).earnings.available;
      if (earned === books.charged - books.fees) break;
      await sleep(200);
    }
    // Customer: trial credit = available + held + charged.
    const account = (await (await api("/v1/account")).json()) as {
      balance: { available: number; held: number };
    };
    expect(account.balance.held).toBe(0);
    expect(account.balance.available + books.charged).toBe(5_000_000);
    // Contributors and platform: charged = earnings + fees.
    expect(earned).toBe(books.charged - books.fees);

    const liarRecord = await record(liar);
    expect(liarRecord.record.rejected).toBeGreaterThan(0);
    expect(liarRecord.earnings.available).toBe(0);
    expect(liarRecord.trust).toBe("new");
    // The laggard's answers came after its leases ran out (the tasks were done elsewhere by
    // then): every one was refused and it earned nothing.
    await until(() => laggard.stats.errors.length >= laggard.stats.tasks);
    expect(laggard.stats.tasks).toBeGreaterThan(0);
    expect(laggard.stats.accepted).toBe(0);
    for (const e of laggard.stats.errors) expect(["lease_expired", "job_closed"]).toContain(e.code);
    expect((await record(laggard)).earnings.available).toBe(0);
    for (const c of honest) expect((await record(c)).record.rejected).toBe(0);
    // Each verdict a contributor heard adds up to what its record says it earned.
    for (const c of honest) expect((await record(c)).earnings.available).toBe(c.stats.earned);
  }, 60_000);

  it("streams a job's events over SSE, resumable by Last-Event-ID", async () => {
    const list = (await (await api("/v1/jobs")).json()) as { data: JobView[] };
    const id = list.data[0]?.id as string;
    const read = async (headers: Record<string, string> = {}) => {
      const res = await api(`/v1/jobs/${id}/events`, { headers });
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      return parseSse(await res.text());
    };
    const all = await read();
    expect(all[0]).toMatchObject({ event: "status", data: { status: "queued" } });
    expect(all.at(-1)).toMatchObject({ event: "status", data: { status: "completed" } });
    expect(all.some((e) => e.event === "progress")).toBe(true);
    const ids = all.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Resuming after the second event replays exactly the rest.
    const rest = await read({ "last-event-id": String(ids[1]) });
    expect(rest.map((e) => e.id)).toEqual(ids.slice(2));
  }, 60_000);
});

function parseSse(text: string): { id: number; event: string; data: Record<string, unknown> }[] {
  return text
    .split("\n\n")
    .filter((block) => block.includes("data:"))
    .map((block) => {
      const field = (name: string) =>
        block
          .split("\n")
          .find((l) => l.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim() ?? "";
      return { id: Number(field("id")), event: field("event"), data: JSON.parse(field("data")) };
    });
}
