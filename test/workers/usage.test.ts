import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";
import {
  accountObject,
  bytesOf,
  HOUR,
  newKey,
  read,
  render,
  servedEvents,
  upload,
} from "./metering-helpers.ts";

type Report = {
  meter: string;
  unit: string;
  key_id: string | null;
  data: { start: string; end: string; quantity: number }[];
  total: number;
};

async function usage(apiKey: string, query: string): Promise<Report> {
  const res = await api(`/v1/usage?${query}`, { headers: bearer(apiKey) });
  expect(res.status).toBe(200);
  return (await res.json()) as Report;
}

describe("GET /v1/usage", () => {
  it("sums egress per hour for the account and for each key that read", async () => {
    const { accountId, apiKey } = await signup();
    const other = await newKey(apiKey, ["storage", "billing"]);
    const { cid } = await upload(apiKey, "twenty bytes of text");
    await read(cid, apiKey);
    await read(cid, apiKey);
    await read(cid, other.api_key);
    await servedEvents(accountId, 3);

    const all = await usage(apiKey, "meter=egress&window=hour");
    expect(all).toMatchObject({ meter: "egress", unit: "byte", key_id: null, total: 60 });
    expect(all.data).toHaveLength(24);
    expect(all.data.at(-1)?.quantity).toBe(60); // this hour
    const theirs = await usage(apiKey, `meter=egress&window=day&key_id=${other.id}`);
    expect(theirs).toMatchObject({ key_id: other.id, total: 20 });
  });

  it("counts a usage event once however often its recording is retried", async () => {
    const { accountId, apiKey } = await signup();
    const account = accountObject(accountId);
    for (let i = 0; i < 3; i++)
      await account.recordUsage("served:retried", "gateway.served", 500, null);
    expect((await usage(apiKey, "meter=egress")).total).toBe(500);
  });

  it("integrates storage held into byte-hours per window, per key that stored it", async () => {
    const { accountId, apiKey } = await signup();
    const other = await newKey(apiKey, ["storage"]);
    const mine = await upload(apiKey, bytesOf(3000, 1));
    await upload(other.api_key, bytesOf(5000, 2));
    const account = accountObject(accountId);
    const t0 = Date.parse(mine.created_at);
    const hour = Math.floor(t0 / HOUR) * HOUR;
    // Three hours later: the first window holds the part of its hour after the upload.
    const query = {
      meter: "storage" as const,
      from: hour,
      to: hour + 3 * HOUR,
      window: "hour" as const,
    };
    const report = await account.usage({ ...query, keyId: undefined, now: hour + 3 * HOUR });
    const held = 3000 + 5000;
    expect(report.unit).toBe("byte-hour");
    expect(report.data[1]?.quantity).toBeCloseTo(held, 6);
    expect(report.data[2]?.quantity).toBeCloseTo(held, 6);
    expect(report.data[0]?.quantity).toBeLessThanOrEqual(held);
    const keyOnly = await account.usage({ ...query, keyId: other.id, now: hour + 3 * HOUR });
    expect(keyOnly.data[2]?.quantity).toBeCloseTo(5000, 6);
    // Nothing is usage until it has happened: a window in the future holds nothing yet.
    const early = await account.usage({ ...query, keyId: undefined, now: hour + HOUR });
    expect(early.data.slice(1).map((w) => w.quantity)).toEqual([0, 0]);
    // Through HTTP: the key that stored nothing has no storage usage.
    const billing = await newKey(apiKey, ["billing"]);
    expect((await usage(apiKey, `meter=storage&key_id=${billing.id}`)).total).toBe(0);
    expect((await usage(apiKey, "meter=storage")).total).toBeGreaterThan(0);
  });

  it("reports compute as the base units captured at a job's settlement, by the key that created it", async () => {
    const { accountId, apiKey } = await signup();
    const jobsKey = await newKey(apiKey, ["jobs"]);
    const spec = render;
    const res = await api("/v1/jobs", jsonInit("POST", spec, bearer(jobsKey.api_key)));
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; quote: { total: number } };
    // What the Job object does when it settles: capture part of the hold, by op id, maybe twice.
    const account = accountObject(accountId);
    const captured = Math.floor(job.quote.total / 2);
    for (let i = 0; i < 2; i++) {
      const r = await account.capture(job.id, captured as never, `job:${job.id}:capture`, "job");
      expect(r.ok).toBe(true);
    }
    expect((await usage(apiKey, "meter=compute&window=day")).total).toBe(captured);
    expect((await usage(apiKey, `meter=compute&key_id=${jobsKey.id}`)).total).toBe(captured);
    const reader = await newKey(apiKey, ["storage"]);
    expect((await usage(apiKey, `meter=compute&key_id=${reader.id}`)).total).toBe(0);
  });

  it("refuses bad queries with problems: unknown meter, too many windows, a key of no one", async () => {
    const { apiKey } = await signup();
    await expectProblem(
      await api("/v1/usage?meter=bandwidth", { headers: bearer(apiKey) }),
      400,
      "validation_failed",
    );
    const from = "2020-01-01T00:00:00Z";
    await expectProblem(
      await api(`/v1/usage?meter=egress&window=hour&from=${from}`, { headers: bearer(apiKey) }),
      400,
      "validation_failed",
    );
    await expectProblem(
      await api("/v1/usage?meter=egress&key_id=key_aaaaaaaaaaaaaaaaaaaa", {
        headers: bearer(apiKey),
      }),
      404,
      "key_not_found",
    );
    const storageOnly = await newKey(apiKey, ["storage"]);
    await expectProblem(
      await api("/v1/usage?meter=egress", { headers: bearer(storageOnly.api_key) }),
      403,
      "insufficient_scope",
    );
  });
});
