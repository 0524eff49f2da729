import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { renderTile } from "../../client/kernels/index.ts";
import { hex } from "../../protocol/digest.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import { blake3, init } from "../../wasm/index.ts";
import { keypair } from "./contributors.ts";
import { api, balance, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";
import {
  accountObject,
  bytesOf,
  DAY,
  EGRESS_PRICE,
  GIB,
  newKey,
  read,
  render,
  revenueFrom,
  STORAGE_PRICE,
  servedEvents,
  storageCost,
  upload,
} from "./metering-helpers.ts";

type Line = {
  meter: string;
  description: string;
  quantity: number;
  unit: string;
  unit_price: number;
  amount: number;
  period: { start: string; end: string };
};
type Invoice = {
  period: string;
  status: string;
  lines: Line[];
  total: number;
  credits: { op_id: string; amount: number }[];
  credits_total: number;
};

const thisMonth = () => new Date().toISOString().slice(0, 7);

type Tile = { x: number; y: number; width: number; height: number };
type Samples = { start: number; count: number };

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(s);
}

describe("GET /v1/invoices", () => {
  it("itemises a month of storage, egress and a job, adding up to the journal to the base unit", async () => {
    const { accountId, apiKey } = await signup();
    const account = accountObject(accountId);
    const size = 3 * 1024 * 1024;
    const stored = await upload(apiKey, bytesOf(size, 11));
    // Egress: two reads with the key.
    await read(stored.cid, apiKey);
    await read(stored.cid, apiKey);
    await servedEvents(accountId, 2);
    // Storage: 40 days held, metered in two steps.
    const t0 = Date.parse(stored.created_at);
    await account.meter(t0 + 15 * DAY);
    await account.meter(t0 + 40 * DAY);
    // Compute: a job whose settlement captures part of its hold and releases the rest.
    const created = await api("/v1/jobs", jsonInit("POST", render, bearer(apiKey)));
    const job = (await created.json()) as { id: string; quote: { total: number } };
    const captured = job.quote.total - 7;
    expect((await account.capture(job.id, captured as never, `job:${job.id}:capture`)).ok).toBe(
      true,
    );
    expect((await account.release(job.id, `job:${job.id}:release`)).ok).toBe(true);

    const res = await api(`/v1/invoices/${thisMonth()}`, { headers: bearer(apiKey) });
    expect(res.status).toBe(200);
    const invoice = (await res.json()) as Invoice;
    expect(invoice).toMatchObject({ period: thisMonth(), status: "open" });

    const egress = Math.floor((2 * size * EGRESS_PRICE) / GIB); // bytes served, not stored
    const storage = storageCost(stored.dag_size, 40 * DAY);
    const byMeter = Object.fromEntries(invoice.lines.map((l) => [l.meter, l]));
    expect(byMeter.storage).toMatchObject({
      unit: "GiB-month",
      unit_price: STORAGE_PRICE,
      amount: storage,
    });
    expect(byMeter.storage?.quantity).toBeCloseTo((stored.dag_size / GIB) * (40 / 30), 9);
    expect(byMeter.egress).toMatchObject({ unit: "GiB", unit_price: EGRESS_PRICE, amount: egress });
    expect(byMeter.egress?.quantity).toBeCloseTo((2 * size) / GIB, 9);
    expect(byMeter.compute).toMatchObject({
      unit: "job",
      quantity: 1,
      amount: captured,
      description: `Job ${job.id}`,
    });
    expect(invoice.lines).toHaveLength(3);

    // The lines add up to the total, the total to the journal's debits and captures, and the
    // balance to the credits minus the total.
    const sum = invoice.lines.reduce((n, l) => n + l.amount, 0);
    expect(invoice.total).toBe(sum);
    const journal = await account.journal(0, 1000);
    const spent = journal
      .filter((j) => j.kind === "debit" || j.kind === "capture")
      .reduce((n, j) => n + j.amount, 0);
    expect(invoice.total).toBe(spent);
    expect(invoice.credits).toEqual([
      expect.objectContaining({ op_id: "trial-credit", amount: 5_000_000 }),
    ]);
    expect(invoice.credits_total).toBe(5_000_000);
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - invoice.total, held: 0 });

    // The platform's side of the same money: storage and egress credited as revenue.
    await runDurableObjectAlarm(account);
    expect(await revenueFrom(accountId)).toBe(storage + egress);

    const list = await api("/v1/invoices", { headers: bearer(apiKey) });
    expect(((await list.json()) as { data: unknown[] }).data).toEqual([
      { period: thisMonth(), status: "open", total: invoice.total, credits_total: 5_000_000 },
    ]);
  });

  it("bills a job settled by its Job object as compute, by the key that created it", async () => {
    await init();
    const { accountId, apiKey } = await signup();
    const jobsKey = await newKey(apiKey, ["jobs"]);
    const spec = { ...render, samples_per_pixel: 1, max_bounces: 2, replication: 1 };
    const created = await api("/v1/jobs", jsonInit("POST", spec, bearer(jobsKey.api_key)));
    expect(created.status).toBe(202);
    const job = (await created.json()) as { id: string };
    // One trusted contributor computes the one tile honestly, through the Job's own exchange.
    const stub = env.JOB.get(env.JOB.idFromName(job.id));
    const address = (await keypair()).address;
    const { assignments } = await stub.exchange({ want: [{ address, trust: "trusted" }] });
    const [a] = assignments;
    if (!a) throw new Error("no task leased");
    const task = (JSON.parse(a.frame) as { task: { tile: Tile; samples: Samples } }).task;
    const pixels = renderTile(RenderSpec.parse(spec), {
      ...task.tile,
      sampleStart: task.samples.start,
      sampleCount: task.samples.count,
    });
    const bytes = new Uint8Array(pixels.buffer);
    await stub.exchange({
      results: [
        {
          token: a.token,
          task_id: a.task_id,
          address,
          output: b64(bytes),
          digest: hex(blake3(bytes)),
        },
      ],
    });
    let charged = 0;
    for (let i = 0; i < 200 && ((await balance(apiKey)).held !== 0 || charged === 0); i++) {
      await runDurableObjectAlarm(stub);
      const v = await api(`/v1/jobs/${job.id}`, { headers: bearer(apiKey) });
      charged =
        ((await v.json()) as { settlement: { charged: number } | null }).settlement?.charged ?? 0;
    }
    expect(charged).toBeGreaterThan(0);

    const usage = await api(`/v1/usage?meter=compute&key_id=${jobsKey.id}`, {
      headers: bearer(apiKey),
    });
    expect(((await usage.json()) as { total: number }).total).toBe(charged);
    const invoice = (await (
      await api(`/v1/invoices/${thisMonth()}`, { headers: bearer(apiKey) })
    ).json()) as Invoice;
    expect(invoice.lines.filter((l) => l.meter === "compute")).toEqual([
      expect.objectContaining({ description: `Job ${job.id}`, amount: charged }),
    ]);
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - invoice.total, held: 0 });
    const account = accountObject(accountId);
    const journal = await account.journal(0, 1000);
    expect(invoice.total).toBe(
      journal
        .filter((j) => j.kind === "debit" || j.kind === "capture")
        .reduce((n, j) => n + j.amount, 0),
    );
  });

  it("gives an empty, closed statement for a past month and refuses months to come", async () => {
    const { apiKey } = await signup();
    const past = await api("/v1/invoices/2026-01", { headers: bearer(apiKey) });
    expect(await past.json()).toMatchObject({
      period: "2026-01",
      status: "closed",
      lines: [],
      total: 0,
      credits: [],
    });
    await expectProblem(
      await api("/v1/invoices/2999-01", { headers: bearer(apiKey) }),
      404,
      "invoice_not_found",
    );
    await expectProblem(
      await api("/v1/invoices/2026-13", { headers: bearer(apiKey) }),
      400,
      "validation_failed",
    );
    const jobsOnly = await api("/v1/keys", jsonInit("POST", { scopes: ["jobs"] }, bearer(apiKey)));
    const { api_key } = (await jobsOnly.json()) as { api_key: string };
    await expectProblem(
      await api("/v1/invoices", { headers: bearer(api_key) }),
      403,
      "insufficient_scope",
    );
  });
});
