import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, balance, bearer, expectProblem, signup } from "./helpers.ts";
import {
  accountObject,
  bytesOf,
  DAY,
  EGRESS_PRICE,
  GIB,
  HOUR,
  read,
  revenueFrom,
  servedEvents,
  storageCost,
  upload,
} from "./metering-helpers.ts";

type Billing = {
  low_balance: boolean;
  low_balance_threshold: number;
  owed: number;
  stored_bytes: number;
  storage_cost_per_day: number;
  runway_days: number | null;
  grace_until: string | null;
  released: { at: string; uploads: number } | null;
};

async function billing(apiKey: string): Promise<Billing> {
  const res = await api("/v1/account", { headers: bearer(apiKey) });
  return ((await res.json()) as { billing: Billing }).billing;
}

/** Spends the whole available balance elsewhere, so storage can no longer be paid. */
async function drain(accountId: string, apiKey: string) {
  const { available } = await balance(apiKey);
  const r = await accountObject(accountId).debit("test:drain", available as never, "spent");
  expect(r.ok).toBe(true);
}

describe("storage is charged as it is held", () => {
  it("debits byte-hours at the GiB-month price, carrying fractions so nothing is lost", async () => {
    const { accountId, apiKey } = await signup();
    const stored = await upload(apiKey, bytesOf(4 * 1024 * 1024));
    const account = accountObject(accountId);
    const t0 = Date.parse(stored.created_at);
    // An hour, two hours, then a week at a time: each step pays what has accrued since the last,
    // and the sum is the exact price of the whole time, rounded down once.
    const steps = [HOUR, 2 * HOUR, ...Array.from({ length: 8 }, (_, i) => (i + 1) * 7 * DAY)];
    const paid: number[] = [];
    for (const at of steps) {
      await account.meter(t0 + at);
      const { available } = await balance(apiKey);
      expect(5_000_000 - available).toBe(storageCost(stored.dag_size, at));
      paid.push(5_000_000 - available);
    }
    expect(paid.slice(0, 2)).toEqual([0, 0]); // an hour of 4 MiB is a fraction of a base unit
    expect(paid.at(-1)).toBeGreaterThan(20);
    // The alarm (due at once) delivers every debit to the Treasury as revenue, once; nothing
    // stays in transit.
    await runDurableObjectAlarm(account);
    expect(await account.revenueInTransit()).toBe(0);
    await runDurableObjectAlarm(account);
    expect(await revenueFrom(accountId)).toBe(paid.at(-1));
  });

  it("keeps an hourly charge scheduled for as long as anything is stored", async () => {
    const { accountId, apiKey } = await signup();
    const account = accountObject(accountId);
    const nextAlarm = () => runInDurableObject(account, (_a, state) => state.storage.getAlarm());
    expect(await nextAlarm()).toBeNull(); // nothing stored, nothing to charge
    const stored = await upload(apiKey, bytesOf(64 * 1024, 9));
    const armed = await nextAlarm();
    expect(armed).not.toBeNull();
    expect(armed as number).toBeLessThanOrEqual(Date.now() + HOUR);
    expect(await runDurableObjectAlarm(account)).toBe(true);
    expect(await nextAlarm()).not.toBeNull(); // re-armed for the next hour
    await api(`/v1/uploads/${stored.cid}`, { method: "DELETE", headers: bearer(apiKey) });
    expect(await runDurableObjectAlarm(account)).toBe(true);
    expect(await nextAlarm()).toBeNull(); // nothing stored or owed: no more charges
  });

  it("debits egress as it is served, at the GiB price, carrying fractions", async () => {
    const { accountId, apiKey } = await signup();
    const size = 2 * 1024 * 1024;
    const { cid } = await upload(apiKey, bytesOf(size, 7));
    for (let i = 1; i <= 3; i++) {
      expect(await read(cid, apiKey)).toBe(size);
      await servedEvents(accountId, i);
      const { available } = await balance(apiKey);
      expect(5_000_000 - available).toBe(Math.floor((i * size * EGRESS_PRICE) / GIB));
    }
    await runDurableObjectAlarm(accountObject(accountId));
    expect(await revenueFrom(accountId)).toBe(Math.floor((3 * size * EGRESS_PRICE) / GIB));
  });
});

describe("low balance and the storage grace period", () => {
  it("shows the runway at the current storage rate and warns below the threshold", async () => {
    const { accountId, apiKey } = await signup();
    expect(await billing(apiKey)).toMatchObject({
      low_balance: false,
      low_balance_threshold: 1_000_000,
      owed: 0,
      stored_bytes: 0,
      runway_days: null,
      grace_until: null,
      released: null,
    });
    const stored = await upload(apiKey, bytesOf(1024 * 1024, 3));
    const status = await billing(apiKey);
    expect(status.stored_bytes).toBe(stored.dag_size);
    expect(status.storage_cost_per_day).toBe(1); // 1 MiB for a day: a fraction, rounded up
    expect(status.runway_days).toBe(5_000_000);
    const { available } = await balance(apiKey);
    await accountObject(accountId).debit("test:spend", (available - 999_999) as never, "spent");
    expect(await billing(apiKey)).toMatchObject({ low_balance: true, runway_days: 999_999 });
  });

  it("keeps uploads for the grace period when storage cannot be paid, then releases them, visibly", async () => {
    const { accountId, apiKey } = await signup();
    const stored = await upload(apiKey, bytesOf(1024 * 1024, 4));
    const account = accountObject(accountId);
    const t0 = Date.parse(stored.created_at);
    await drain(accountId, apiKey);

    const owedAt = t0 + 60 * DAY;
    await account.meter(owedAt);
    const status = await billing(apiKey);
    const graceUntil = new Date(owedAt + 7 * DAY).toISOString(); // STORAGE_GRACE_DAYS = 7
    expect(status).toMatchObject({ low_balance: true, grace_until: graceUntil, released: null });
    expect(status.owed).toBe(storageCost(stored.dag_size, 60 * DAY));
    const view = await api(`/v1/uploads/${stored.cid}`, { headers: bearer(apiKey) });
    expect(await view.json()).toMatchObject({ cid: stored.cid, grace_until: graceUntil });

    // Still kept just before the end of the grace period.
    await account.meter(Date.parse(graceUntil) - 1);
    expect((await api(`/v1/uploads/${stored.cid}`, { headers: bearer(apiKey) })).status).toBe(200);

    await account.meter(Date.parse(graceUntil));
    await expectProblem(
      await api(`/v1/uploads/${stored.cid}`, { headers: bearer(apiKey) }),
      404,
      "upload_not_found",
    );
    const after = await billing(apiKey);
    expect(after).toMatchObject({
      grace_until: null,
      stored_bytes: 0,
      released: { at: graceUntil, uploads: 1 },
    });
    expect(after.owed).toBeGreaterThan(0); // what the grace period cost is still owed
    const removed = (await account.usageEvents()).filter((e) => e.kind === "storage.removed");
    expect(removed.map((e) => e.cid)).toEqual([stored.cid]);
    // The blocks go through the removal path: once the outbox is delivered, nothing is served.
    await runDurableObjectAlarm(account);
    await expectProblem(await api(`/ipfs/${stored.cid}`), 404, "content_not_found");
  });

  it("ends the grace period when a deposit pays what is owed", async () => {
    const { accountId, apiKey } = await signup();
    const stored = await upload(apiKey, bytesOf(1024 * 1024, 5));
    const account = accountObject(accountId);
    const t0 = Date.parse(stored.created_at);
    await drain(accountId, apiKey);
    await account.meter(t0 + 60 * DAY);
    const { owed, grace_until } = await billing(apiKey);
    expect(grace_until).not.toBeNull();

    const credited = await account.credit("deposit:test", 1_000_000 as never, "deposit");
    expect(credited.ok).toBe(true);
    expect(await billing(apiKey)).toMatchObject({ grace_until: null, owed: 0 });
    expect(await balance(apiKey)).toEqual({ available: 1_000_000 - owed, held: 0 });
    // Past the old end of the grace period the upload is still there, and storage is paid again.
    await account.meter(Date.parse(grace_until as string) + DAY);
    const view = await api(`/v1/uploads/${stored.cid}`, { headers: bearer(apiKey) });
    expect(await view.json()).toMatchObject({ cid: stored.cid, grace_until: null });
    expect((await balance(apiKey)).available).toBe(
      1_000_000 - storageCost(stored.dag_size, 60 * DAY + 8 * DAY) + 0,
    );
  });
});
