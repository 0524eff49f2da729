import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { renderTile } from "../../client/kernels/index.ts";
import type {
  Assignment,
  ExchangeOutput,
  Slot,
  SubmittedResult,
} from "../../durable-objects/job/job.ts";
import { MAX_EXTRA_ATTEMPTS } from "../../durable-objects/job/job.ts";
import { feeOn } from "../../durable-objects/job/verify.ts";
import { POOLS } from "../../protocol/contributor.ts";
import { hex } from "../../protocol/digest.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import { blake3, init } from "../../wasm/index.ts";
import { contributor, keypair } from "./contributors.ts";
import { api, balance, bearer, jsonInit, signup } from "./helpers.ts";

/**
 * What verification means for the people paying and the people computing: a task nobody can
 * finish fails its job and the customer pays only for what was earned; trusted contributors'
 * tasks are mostly not replicated, so the customer pays less than the quote; `new` contributors
 * are tested with canaries (tasks whose answer is already known) and a wrong answer counts
 * against them while a right one earns nothing.
 */
const scene = {
  camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
  sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
  materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
  spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
};
/** A render of `width`×`height` at 1 sample a pixel: one task per 64×64 tile. */
const render = (width: number, height: number, replication: number) => ({
  kind: "render",
  width,
  height,
  samples_per_pixel: 1,
  max_bounces: 2,
  replication,
  scene,
});

type Frame = Record<string, unknown>;
type View = {
  id: string;
  status: string;
  tasks: { total: number; done: number };
  quote: { total: number; compute_cost: number; platform_fee_bps: number; tasks: number };
  cost: number;
  failure: string | null;
  result_cid: string | null;
  settlement: { charged: number; contributors: number; platform_fee: number } | null;
};
type TaskSpecLike = {
  tile: { x: number; y: number; width: number; height: number };
  samples: { start: number; count: number };
};

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192)
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(s);
}

/** The right output of a render task, and its digest (what an honest contributor sends). */
async function honest(spec: unknown, task: TaskSpecLike) {
  await init();
  const pixels = renderTile(RenderSpec.parse(spec), {
    ...task.tile,
    sampleStart: task.samples.start,
    sampleCount: task.samples.count,
  });
  const bytes = new Uint8Array(pixels.buffer);
  return { output: b64(bytes), digest: hex(blake3(bytes)) };
}

/** A wrong output of the right size with a digest that matches it: only a replica can tell. */
async function wrong(task: TaskSpecLike) {
  await init();
  const bytes = new Uint8Array(task.tile.width * task.tile.height * 3 * 4);
  return { output: b64(bytes), digest: hex(blake3(bytes)) };
}

async function create(apiKey: string, spec: unknown) {
  const res = await api("/v1/jobs", jsonInit("POST", spec, bearer(apiKey)));
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as View;
}

async function view(apiKey: string, id: string) {
  return (await (await api(`/v1/jobs/${id}`, { headers: bearer(apiKey) })).json()) as View;
}

async function record(address: string) {
  return (await (await api(`/v1/contributors/${address}`)).json()) as {
    trust: string;
    record: { accepted: number; rejected: number };
    earnings: { available: number };
  };
}

const jobStub = (id: string) => env.JOB.get(env.JOB.idFromName(id));

/** Runs the job's alarm until it has ended and settled (its outbox is drained by then). */
async function settled(apiKey: string, id: string): Promise<View> {
  let v = await view(apiKey, id);
  for (
    let i = 0;
    i < 200 && (v.settlement === null || !["completed", "failed", "cancelled"].includes(v.status));
    i++
  ) {
    await runDurableObjectAlarm(jobStub(id));
    v = await view(apiKey, id);
  }
  // The last outbox operation is the release of the hold: wait until the account shows it.
  for (let i = 0; i < 200 && (await balance(apiKey)).held !== 0; i++)
    await runDurableObjectAlarm(jobStub(id));
  return v;
}

/**
 * Tests that call `exchange` themselves need pools with nobody in them, or a dispatcher would
 * lease the same tasks to its sockets.
 */
async function emptyPools() {
  for (const pool of POOLS) {
    const d = env.DISPATCHER.get(env.DISPATCHER.idFromName(pool));
    for (let i = 0; i < 200 && (await d.contributors()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await d.contributors()).toEqual([]);
  }
}

const slots = (address: string, trust: Slot["trust"], n: number): Slot[] =>
  Array.from({ length: n }, () => ({ address, trust }));

const taskOf = (a: Assignment) => (JSON.parse(a.frame) as { task: TaskSpecLike }).task;
const idxOf = (taskId: string) => Number(taskId.slice(taskId.indexOf(".") + 1));

/** Each assignment's honest result (tiles rendered once per task). */
async function honestResults(spec: unknown, assignments: Assignment[]) {
  const cache = new Map<string, { output: string; digest: string }>();
  const out: SubmittedResult[] = [];
  for (const a of assignments) {
    let r = cache.get(a.task_id);
    if (!r) {
      r = await honest(spec, taskOf(a));
      cache.set(a.task_id, r);
    }
    out.push({ token: a.token, task_id: a.task_id, address: a.address, ...r });
  }
  return out;
}

/** Submits results in batches (each result is ~64 KiB of base64); returns every verdict. */
async function submit(id: string, results: SubmittedResult[]) {
  const verdicts: ExchangeOutput["verdicts"] = [];
  for (let i = 0; i < results.length; i += 16) {
    const out = await jobStub(id).exchange({ results: results.slice(i, i + 16) });
    for (const r of out.replies) expect(r).toMatchObject({ ok: true, status: "received" });
    verdicts.push(...out.verdicts);
  }
  return verdicts;
}

describe("verification: failing tasks, adaptive replication, canaries", () => {
  it("A task that fails on too many contributors fails the job and refunds everything not earned", async () => {
    const { apiKey } = await signup();
    const spec = render(64, 64, 1);
    const job = await create(apiKey, spec);
    expect(job.tasks.total).toBe(1);
    expect(await balance(apiKey)).toEqual({
      available: 5_000_000 - job.quote.total,
      held: job.quote.total,
    });

    const attempts = spec.replication + MAX_EXTRA_ATTEMPTS;
    for (let i = 0; i < attempts; i++) {
      // Still open until the last attempt has failed: it is offered again each time.
      expect(["queued", "running"]).toContain((await view(apiKey, job.id)).status);
      const c = await contributor("native");
      expect(await c.next()).toMatchObject({ type: "job", job_id: job.id });
      const task = await c.next();
      expect(task).toMatchObject({ type: "task", task_id: `${job.id}.0` });
      c.send({
        type: "failed",
        task_id: task.task_id,
        lease_token: task.lease_token,
        reason: "device lost",
      });
      expect(await c.next()).toEqual({ type: "ack", task_id: task.task_id, status: "received" });
      c.ws.close(1000, "done");
    }

    const v = await settled(apiKey, job.id);
    expect(v.status).toBe("failed");
    expect(v.failure).toMatch(/Task 0 was tried 5 times/);
    expect(v.tasks).toEqual({ total: 1, done: 0 });
    expect(v.settlement).toEqual({ charged: 0, contributors: 0, platform_fee: 0 });
    expect(v.result_cid).toBeNull();
    expect(await balance(apiKey)).toEqual({ available: 5_000_000, held: 0 });
  });

  it("A job whose other task fails charges exactly the accepted task's share plus its fee", async () => {
    const { apiKey } = await signup();
    const spec = render(128, 64, 1);
    const job = await create(apiKey, spec);
    expect(job.tasks.total).toBe(2);

    // Task 0 is computed right by whoever gets it (first lease or canary); task 1 fails everywhere.
    let earned = 0;
    const attempts = spec.replication + MAX_EXTRA_ATTEMPTS;
    const addresses: string[] = [];
    for (let i = 0; i < attempts; i++) {
      const c = await contributor("native");
      addresses.push(c.address);
      let failedAcked = false;
      let failedToken = "";
      while (!failedAcked) {
        const f: Frame = await c.next();
        if (f.type === "job") continue; // the spec, before the connection's first task
        if (f.type === "task") {
          if (f.task_id === `${job.id}.0`) {
            c.send({
              type: "result",
              task_id: f.task_id,
              lease_token: f.lease_token,
              ...(await honest(spec, f.task as TaskSpecLike)),
            });
          } else {
            expect(f.task_id).toBe(`${job.id}.1`);
            failedToken = f.lease_token as string;
            c.send({
              type: "failed",
              task_id: f.task_id,
              lease_token: f.lease_token,
              reason: "out of memory",
            });
          }
        } else if (f.type === "verdict") {
          expect(f).toMatchObject({ task_id: `${job.id}.0`, status: "accepted" });
          earned += f.earned as number;
        } else {
          expect(f).toMatchObject({ type: "ack", status: "received" });
          if (failedToken && f.task_id === `${job.id}.1`) failedAcked = true;
        }
      }
      c.ws.close(1000, "done");
    }

    const v = await settled(apiKey, job.id);
    expect(v.status).toBe("failed");
    expect(v.failure).toMatch(/Task 1 was tried 5 times/);
    expect(v.tasks).toEqual({ total: 2, done: 1 });
    // One task of two, replication 1: half the compute cost (to the base unit), plus its fee.
    expect(earned).toBe(Math.floor(job.quote.compute_cost / 2));
    const fee = feeOn(earned, job.quote.platform_fee_bps);
    expect(v.settlement).toEqual({
      charged: earned + fee,
      contributors: earned,
      platform_fee: fee,
    });
    expect(v.settlement?.charged).toBeLessThan(job.quote.total);
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - earned - fee, held: 0 });
    // Only the one contributor whose result was accepted was paid.
    const paid = await Promise.all(
      addresses.map(async (a) => (await record(a)).earnings.available),
    );
    expect(paid.reduce((s, x) => s + x, 0)).toBe(earned);
    expect(paid.filter((x) => x > 0)).toEqual([earned]);
  });

  it("Adaptive replication: a trusted contributor's task is usually not replicated, and the customer pays less", async () => {
    await emptyPools();
    const { apiKey } = await signup();
    const spec = render(640, 640, 2);
    const job = await create(apiKey, spec);
    expect(job.tasks.total).toBe(100);
    const stub = jobStub(job.id);
    const a = (await keypair()).address;
    const b = (await keypair()).address;

    // A trusted contributor takes every task once.
    const first = await stub.exchange({ want: slots(a, "trusted", 100) });
    expect(first.assignments).toHaveLength(100);
    expect(new Set(first.assignments.map((x) => x.task_id)).size).toBe(100);
    // Another trusted contributor gets only the tasks sampled for full replication (10% expected).
    const second = await stub.exchange({ want: slots(b, "trusted", 100) });
    expect(second.more).toBe(false);
    const replicated = second.assignments.length;
    expect(replicated).toBeGreaterThanOrEqual(1);
    expect(replicated).toBeLessThanOrEqual(30);
    const required = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec<{ required: number; n: number }>(
          "SELECT required, COUNT(*) AS n FROM tasks GROUP BY required ORDER BY required",
        )
        .toArray(),
    );
    expect(required).toEqual([
      { required: 1, n: 100 - replicated },
      { required: 2, n: replicated },
    ]);

    // Both answer right: every task is accepted, the job completes.
    const verdicts = await submit(
      job.id,
      await honestResults(spec, [...first.assignments, ...second.assignments]),
    );
    expect(verdicts).toHaveLength(100 + replicated);
    for (const x of verdicts) expect(x.status).toBe("accepted");
    const earned = verdicts.reduce((s, x) => s + x.earned, 0);
    const v = await settled(apiKey, job.id);
    expect(v.status).toBe("completed");
    expect(v.tasks).toEqual({ total: 100, done: 100 });
    expect(v.result_cid).toMatch(/^b/);
    // Paid: one share per sampled-out task, two per replicated task, plus the fee on that.
    const share = job.quote.compute_cost / 200;
    expect(Math.abs(earned - share * (100 + replicated))).toBeLessThanOrEqual(100 + replicated);
    const fee = feeOn(earned, job.quote.platform_fee_bps);
    expect(v.settlement).toEqual({
      charged: earned + fee,
      contributors: earned,
      platform_fee: fee,
    });
    expect(v.settlement?.charged).toBeLessThan(job.quote.total);
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - earned - fee, held: 0 });
    expect((await record(a)).earnings.available + (await record(b)).earnings.available).toBe(
      earned,
    );
  });

  it("A task sampled out for a trusted contributor that gives it back is replicated again for an untrusted one", async () => {
    await emptyPools();
    const { apiKey } = await signup();
    const spec = render(256, 64, 2);
    const job = await create(apiKey, spec);
    expect(job.tasks.total).toBe(4);
    const stub = jobStub(job.id);
    const trusted = (await keypair()).address;
    const liar = (await keypair()).address;
    const honestOne = (await keypair()).address;
    const honestTwo = (await keypair()).address;

    const first = await stub.exchange({ want: slots(trusted, "trusted", 4) });
    expect(first.assignments).toHaveLength(4);
    const sampledOut = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec<{ idx: number }>("SELECT idx FROM tasks WHERE required = 1 ORDER BY idx")
        .toArray()
        .map((r) => r.idx),
    );
    // 4 tasks each sampled out with probability 0.9: at least one is (all but 1 in 10,000 runs).
    expect(sampledOut.length).toBeGreaterThan(0);
    const idx = sampledOut[0] as number;
    const lease = first.assignments.find((x) => idxOf(x.task_id) === idx) as Assignment;
    // The trusted contributor gives the task back.
    const failed = await stub.exchange({
      failures: [{ token: lease.token, task_id: lease.task_id, address: trusted, reason: "lost" }],
    });
    expect(failed.replies).toEqual([
      {
        token: lease.token,
        task_id: lease.task_id,
        address: trusted,
        ok: true,
        status: "received",
      },
    ]);

    // A `new` contributor takes it and answers wrong: one untrusted result is not enough.
    const second = await stub.exchange({ want: slots(liar, "new", 4) });
    const retry = second.assignments.find((x) => x.task_id === lease.task_id) as Assignment;
    expect(retry).toBeDefined();
    const lie = await stub.exchange({
      results: [
        {
          token: retry.token,
          task_id: retry.task_id,
          address: liar,
          ...(await wrong(taskOf(retry))),
        },
      ],
    });
    expect(lie.verdicts).toEqual([]);
    expect((await view(apiKey, job.id)).tasks.done).toBe(0);

    // Two more contributors answer right, one after the other (a disagreement asks for one more
    // replica): the majority decides, the lie is rejected.
    const verdicts: ExchangeOutput["verdicts"] = [];
    for (const who of [honestOne, honestTwo]) {
      const out = await stub.exchange({ want: slots(who, "established", 4) });
      const check = out.assignments.find((x) => x.task_id === lease.task_id) as Assignment;
      expect(check).toBeDefined();
      verdicts.push(...(await submit(job.id, await honestResults(spec, [check]))));
    }
    expect(verdicts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ address: liar, status: "rejected", earned: 0 }),
        expect.objectContaining({ address: honestOne, status: "accepted" }),
        expect.objectContaining({ address: honestTwo, status: "accepted" }),
      ]),
    );
    expect((await view(apiKey, job.id)).tasks.done).toBe(1);
    const cancelled = await api(`/v1/jobs/${job.id}/cancel`, {
      method: "POST",
      headers: bearer(apiKey),
    });
    expect(cancelled.status).toBe(200);
    const v = await settled(apiKey, job.id);
    expect(v.status).toBe("cancelled");
    expect(await record(liar)).toMatchObject({
      record: { accepted: 0, rejected: 1 },
      earnings: { available: 0 },
    });
  });

  it("Canaries: a new contributor is tested on accepted tasks; a wrong answer counts against it, a right one earns nothing", async () => {
    await emptyPools();
    const { apiKey } = await signup();
    const spec = render(320, 320, 2);
    const job = await create(apiKey, spec);
    expect(job.tasks.total).toBe(25);
    const stub = jobStub(job.id);
    const x = (await keypair()).address;
    const y = (await keypair()).address;
    const n = (await keypair()).address;

    // Two established contributors compute tasks 0–9 and agree: those are accepted.
    const xs = await stub.exchange({ want: slots(x, "established", 10) });
    const ys = await stub.exchange({ want: slots(y, "established", 10) });
    const ids = (o: ExchangeOutput) => o.assignments.map((a) => a.task_id).sort();
    expect(ids(xs)).toHaveLength(10);
    expect(ids(ys)).toEqual(ids(xs)); // established contributors' tasks are fully replicated
    const verdicts = await submit(
      job.id,
      await honestResults(spec, [...xs.assignments, ...ys.assignments]),
    );
    expect(verdicts.filter((v) => v.status === "accepted")).toHaveLength(20);
    const paid = verdicts.reduce((s, v) => s + v.earned, 0);
    const before = await view(apiKey, job.id);
    expect(before.tasks.done).toBe(10);
    const accepted = new Set(ids(xs));

    // A new contributor asks for work until it has been sent a few canaries.
    const canaries: Assignment[] = [];
    const real: Assignment[] = [];
    for (let round = 0; round < 200 && canaries.length < 4; round++) {
      const out = await stub.exchange({ want: slots(n, "new", 5) });
      const flags = await runInDurableObject(stub, (_, state) =>
        out.assignments.map(
          (a) =>
            state.storage.sql
              .exec<{ canary: number }>("SELECT canary FROM replicas WHERE token = ?", a.token)
              .one().canary,
        ),
      );
      out.assignments.forEach((a, i) => {
        if (flags[i] === 1) canaries.push(a);
        else real.push(a);
      });
    }
    expect(canaries.length).toBeGreaterThanOrEqual(4);
    // Canaries are tasks already accepted, each at most once; real leases are the open tasks.
    for (const c of canaries) expect(accepted.has(c.task_id)).toBe(true);
    expect(new Set(canaries.map((c) => c.task_id)).size).toBe(canaries.length);
    for (const r of real) expect(accepted.has(r.task_id)).toBe(false);
    // To the contributor a canary looks like any task.
    const frame = JSON.parse((canaries[0] as Assignment).frame) as Frame;
    expect(Object.keys(frame).sort()).toEqual(
      ["deadline", "job_id", "lease_token", "task", "task_id", "type"].sort(),
    );

    // The first canary is answered right, the others wrong.
    const [right, ...lies] = canaries as [Assignment, ...Assignment[]];
    const answers: SubmittedResult[] = [
      ...(await honestResults(spec, [right])),
      ...(await Promise.all(
        lies.map(async (a) => ({
          token: a.token,
          task_id: a.task_id,
          address: n,
          ...(await wrong(taskOf(a))),
        })),
      )),
    ];
    const judged = await stub.exchange({ results: answers });
    for (const r of judged.replies) expect(r).toMatchObject({ ok: true, status: "received" });
    expect(judged.verdicts).toHaveLength(canaries.length);
    expect(judged.verdicts.find((v) => v.task_id === right.task_id)).toEqual({
      address: n,
      task_id: right.task_id,
      status: "accepted",
      earned: 0,
    });
    for (const l of lies)
      expect(judged.verdicts.find((v) => v.task_id === l.task_id)).toEqual({
        address: n,
        task_id: l.task_id,
        status: "rejected",
        earned: 0,
        reason: "disagrees with the verified answer",
      });
    // Nothing a canary says changes the job: no task done, no cost added.
    const after = await view(apiKey, job.id);
    expect(after.tasks.done).toBe(before.tasks.done);
    expect(after.cost).toBe(before.cost);

    // The customer cancels: only the ten accepted tasks are paid, and the record shows the lies.
    const cancelled = await api(`/v1/jobs/${job.id}/cancel`, {
      method: "POST",
      headers: bearer(apiKey),
    });
    expect(cancelled.status).toBe(200);
    const v = await settled(apiKey, job.id);
    expect(v.status).toBe("cancelled");
    const fee = feeOn(paid, job.quote.platform_fee_bps);
    expect(v.settlement).toEqual({ charged: paid + fee, contributors: paid, platform_fee: fee });
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - paid - fee, held: 0 });
    expect(await record(n)).toMatchObject({
      trust: "new",
      record: { accepted: 1, rejected: lies.length },
      earnings: { available: 0 },
    });
    expect((await record(x)).earnings.available + (await record(y)).earnings.available).toBe(paid);
  });
});
