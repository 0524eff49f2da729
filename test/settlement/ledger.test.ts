import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { renderTile } from "../../client/kernels/index.ts";
import { hex } from "../../protocol/digest.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import type { Micros } from "../../protocol/money.ts";
import { blake3, init } from "../../wasm/index.ts";
import { ONE_SPHERE_SCENE } from "../fixtures/scenes.ts";
import { contributor } from "../workers/contributors.ts";
import {
  api,
  bearer,
  chain,
  contributorRecord,
  deposit,
  depositState,
  expectProblem,
  fundedAccount,
  jsonInit,
  ledger,
  settleWork,
  usdcOf,
  wallet,
  watch,
} from "./helpers.ts";

// The ledger proof after a mixed run: deposits (one refused), a GPU job run by a contributor over
// the WebSocket protocol, stored data charged by the month, payouts, stake and a slash.

const job = {
  kind: "render",
  width: 8,
  height: 8,
  samples_per_pixel: 2,
  max_bounces: 2,
  replication: 1,
  scene: ONE_SPHERE_SCENE,
};

async function honest(task: Record<string, unknown>) {
  await init();
  const t = task.task as { tile: { x: number; y: number; width: number; height: number } } & {
    samples: { start: number; count: number };
  };
  const pixels = renderTile(RenderSpec.parse(job), {
    ...t.tile,
    sampleStart: t.samples.start,
    sampleCount: t.samples.count,
  });
  const bytes = new Uint8Array(pixels.buffer);
  return { output: btoa(String.fromCharCode(...bytes)), digest: hex(blake3(bytes)) };
}

/** One render job, run to completion by one honest contributor; returns what it charged. */
async function runJob(apiKey: string): Promise<number> {
  const worker = await contributor("native");
  const created = await api("/v1/jobs", jsonInit("POST", job, bearer(apiKey)));
  expect(created.status).toBe(202);
  const { id } = (await created.json()) as { id: string };
  expect(await worker.next()).toMatchObject({ type: "job", job_id: id });
  const task = await worker.next();
  worker.send({
    type: "result",
    task_id: task.task_id,
    lease_token: task.lease_token,
    ...(await honest(task)),
  });
  expect(await worker.next()).toMatchObject({ type: "ack" });
  expect(await worker.next()).toMatchObject({ type: "verdict", status: "accepted" });
  const stub = env.JOB.get(env.JOB.idFromName(id));
  let view = { status: "", settlement: { charged: 0 } };
  for (let i = 0; i < 100 && view.status !== "completed"; i++) {
    await runDurableObjectAlarm(stub);
    view = (await (await api(`/v1/jobs/${id}`, { headers: bearer(apiKey) })).json()) as typeof view;
  }
  expect(view.status).toBe("completed");
  worker.ws.close(1000, "done");
  return view.settlement.charged;
}

describe("the ledger proof", () => {
  it("balances to the base unit after deposits, a job, storage, payouts and stake, with the chain alongside", async () => {
    const start = await ledger();

    // Deposits: one credited, one refused (underpaid) whose USDC still sits in the treasury.
    const customer = await fundedAccount(40_000_000);
    const refused = await deposit(customer.apiKey, 3_000_000);
    await chain("pay", { payer: await wallet(), url: refused.request.url, amount: 2_000_000 });
    await watch();
    expect((await depositState(customer.apiKey, refused.id)).status).toBe("rejected");

    // A GPU job: the hold, the capture, the contributor's earnings and the fee.
    const charged = await runJob(customer.apiKey);
    expect(charged).toBeGreaterThan(0);

    // Stored data, charged as it is held: a month of a 1 MiB upload.
    const upload = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(customer.apiKey, { "content-type": "application/octet-stream" }),
      body: crypto.getRandomValues(new Uint8Array(65_536)).slice(),
    });
    expect(upload.status, await upload.clone().text()).toBe(201);
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(customer.accountId));
    const later = Date.now() + 400 * 86_400_000;
    await account.meter(later);
    await account.deliver(later);

    // Earnings past the threshold, paid on chain.
    const earner = await wallet();
    await settleWork(customer.accountId, earner, { earned: 3_000_000, fee: 300_000 });
    await watch();
    expect((await contributorRecord(earner)).earnings.paid).toBe(3_000_000);

    // Stake, and a slash for a rejected result.
    const staker = await wallet();
    const stakeRes = await api(
      `/v1/contributors/${staker}/stake`,
      jsonInit("POST", { amount: 12_000_000 }),
    );
    const stake = (await stakeRes.json()) as { request: { url: string } };
    await chain("pay", { payer: staker, url: stake.request.url });
    await watch();
    await settleWork(customer.accountId, staker, { earned: 0, fee: 0, accepted: 0, rejected: 1 });
    expect((await contributorRecord(staker)).stake).toMatchObject({
      locked: 9_000_000,
      slashed: 3_000_000,
    });

    const end = await ledger();
    const delta = (k: keyof typeof end.holdings) => end.holdings[k] - start.holdings[k];
    expect(end.sources.deposits - start.sources.deposits).toBe(40_000_000);
    expect(end.sources.stake - start.sources.stake).toBe(12_000_000);
    expect(end.sources.trial_credit - start.sources.trial_credit).toBe(5_000_000);
    expect(delta("insurance")).toBe(3_000_000);
    expect(delta("paid_out")).toBe(3_000_000);
    expect(delta("fees")).toBeGreaterThanOrEqual(300_000);
    expect(delta("metered_revenue")).toBeGreaterThan(0);
    expect(delta("in_transit")).toBe(0);
    expect(end).toMatchObject({ balanced: true, difference: 0 });
    expect(end.sources.total).toBe(end.holdings.total);

    // On chain: what came in (credited or refused) less what went out, beside the operator's float.
    expect(end.on_chain.configured).toBe(true);
    expect(end.on_chain.balance).toBe(await usdcOf(env.TEST_TREASURY));
    expect(end.on_chain.uncredited_receipts - start.on_chain.uncredited_receipts).toBe(2_000_000);
    expect(end.on_chain.expected - start.on_chain.expected).toBe(
      40_000_000 + 2_000_000 + 12_000_000 - 3_000_000,
    );
    expect(end.on_chain.balance - end.on_chain.expected).toBe(end.on_chain.float);
    expect(end.on_chain.float).toBe(start.on_chain.float);
  });

  it("counts every account's metered revenue: op ids are per account, so two first charges are two", async () => {
    const start = await ledger();
    const charged: number[] = [];
    for (const size of [4, 2]) {
      const customer = await fundedAccount(10_000_000);
      const body = new Uint8Array(size * 1024 * 1024);
      for (let at = 0; at < body.length; at += 65_536) {
        crypto.getRandomValues(body.subarray(at, at + 65_536));
      }
      const upload = await api("/v1/uploads", {
        method: "POST",
        headers: bearer(customer.apiKey, { "content-type": "application/octet-stream" }),
        body,
      });
      expect(upload.status).toBe(201);
      const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(customer.accountId));
      const later = Date.now() + 400 * 86_400_000;
      await account.meter(later);
      await account.deliver(later);
      charged.push(10_000_000 + 5_000_000 - (await account.balance()).available);
    }
    expect(charged.every((c) => c > 0)).toBe(true);
    const end = await ledger();
    expect(end.holdings.metered_revenue - start.holdings.metered_revenue).toBe(
      charged.reduce((a, b) => a + b, 0),
    );
    expect(end).toMatchObject({ balanced: true, difference: 0 });
  });

  it("balances after a storage provider is paid for proven periods out of metered revenue, never more", async () => {
    // Revenue to pay from: what the run above charged for stored data (a few base units; this
    // file's tests run in order against one Treasury).
    const start = await ledger();
    const revenue = start.holdings.metered_revenue;
    expect(start).toMatchObject({ balanced: true, difference: 0 });
    expect(revenue).toBeGreaterThan(2);

    // Two proven periods, the second retried (the Pin's alarm ran twice): paid once each.
    const provider = await wallet();
    const treasury = env.TREASURY.get(env.TREASURY.idFromName("treasury"));
    const pay = (period: number, owed: number) =>
      treasury.payProvider(`store:pin_l:${provider}:${period}`, provider, "pin_l", owed as Micros);
    expect(await pay(1, 1)).toBe(1);
    expect(await pay(2, 1)).toBe(1);
    expect(await pay(2, 1)).toBe(1);
    expect(await treasury.providerPay(provider)).toEqual({ periods: 2, owed: 2, paid: 2 });
    expect((await contributorRecord(provider)).earnings.available).toBe(2);
    const mid = await ledger();
    expect(mid.holdings.metered_revenue - start.holdings.metered_revenue).toBe(-2);
    expect(mid.holdings.contributors_available - start.holdings.contributors_available).toBe(2);
    expect(mid).toMatchObject({ balanced: true, difference: 0 });

    // A period earning more than the revenue left is paid what is left, and the books still hold.
    expect(await pay(3, 1_000_000_000)).toBe(revenue - 2);
    expect(await treasury.providerPay(provider)).toMatchObject({
      owed: 1_000_000_002,
      paid: revenue,
    });
    const end = await ledger();
    expect(end.holdings.metered_revenue).toBe(0);
    expect(end.holdings.contributors_available - start.holdings.contributors_available).toBe(
      revenue,
    );
    expect(end.holdings.in_transit).toBe(start.holdings.in_transit);
    expect(end.sources.total).toBe(start.sources.total);
    expect(end).toMatchObject({ balanced: true, difference: 0 });
  });

  it("is the operator's: an API key, even with every scope, is refused", async () => {
    const { apiKey } = await fundedAccount(1_000_000);
    await expectProblem(
      await api("/v1/admin/ledger", { headers: bearer(apiKey) }),
      401,
      "unauthenticated",
    );
  });
});
