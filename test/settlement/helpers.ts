import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, bearer, jsonInit, signup } from "../workers/helpers.ts";

export { api, balance, bearer, expectProblem, jsonInit, signup } from "../workers/helpers.ts";

/** Asks the cluster fixture (global-setup.ts) to do something: pay, advance, read a balance. */
export async function chain<T = Record<string, string>>(
  action: string,
  body: Record<string, unknown> = {},
): Promise<T> {
  const res = await fetch(`${env.TEST_CHAIN_URL}/${action}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`chain ${action}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A wallet on the cluster with SOL, 1000 USDC and 1000 of a fake token. */
export async function wallet(): Promise<string> {
  return (await chain<{ address: string }>("wallet")).address;
}

/** USDC base units `owner` holds on chain. */
export async function usdcOf(owner: string): Promise<number> {
  return Number((await chain<{ amount: string }>("balance", { owner })).amount);
}

export const treasury = () => env.TREASURY.get(env.TREASURY.idFromName("treasury"));

/**
 * One run of the Treasury's alarm, now: look for payments, pay batches, deliver the outbox.
 * (The suite sets SETTLEMENT_POLL_SECONDS to an hour, so alarms never run on their own.)
 */
export async function watch(): Promise<void> {
  await runInDurableObject(treasury(), (t) => t.alarm());
}

export interface Intent {
  id: string;
  status: string;
  amount: number;
  received: number;
  signature: string | null;
  reason: { code: string; detail: string } | null;
  request: { url: string; reference: string; memo: string };
  recipient: string;
  mint: string;
  qr_svg: string;
  expires_at: string;
}

export async function deposit(apiKey: string, amount: number, key?: string): Promise<Intent> {
  const headers = bearer(apiKey, key ? { "idempotency-key": key } : {});
  const res = await api("/v1/billing/deposits", jsonInit("POST", { amount }, headers));
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Intent;
}

export async function depositState(apiKey: string, id: string): Promise<Intent> {
  const res = await api(`/v1/billing/deposits/${id}`, { headers: bearer(apiKey) });
  expect(res.status).toBe(200);
  return (await res.json()) as Intent;
}

export interface ContributorRecord {
  trust: string;
  earnings: { available: number; pending: number; paid: number };
  stake: {
    locked: number;
    unstaking: number;
    slashed: number;
    paid_back: number;
    unlocks_at: string | null;
  };
  payouts: {
    id: string;
    kind: string;
    amount: number;
    address: string;
    status: string;
    signature: string | null;
  }[];
}

export async function contributorRecord(address: string): Promise<ContributorRecord> {
  return (await (await api(`/v1/contributors/${address}`)).json()) as ContributorRecord;
}

export const contributorStub = (address: string) =>
  env.CONTRIBUTOR.get(env.CONTRIBUTOR.idFromName(address));

/**
 * What a job's settlement does for one contributor (durable-objects/job/job.ts, `apply`), on a
 * funded account: hold, capture `earned + fee`, record the earnings and the verdicts on the
 * Contributor, credit the fee to the Treasury, release the hold. Balanced, like a real job; used
 * where a test needs earnings of a given size rather than a GPU job.
 */
export async function settleWork(
  accountId: string,
  address: string,
  work: { earned: number; fee: number; accepted?: number; rejected?: number },
): Promise<void> {
  const jobId = `job_${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;
  const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
  const total = work.earned + work.fee;
  const hold = await account.hold(jobId, total as never, `job ${jobId}`);
  expect(hold.ok, JSON.stringify(hold)).toBe(true);
  expect((await account.capture(jobId, total as never, `job:${jobId}:capture`)).ok).toBe(true);
  await contributorStub(address).record(address, `job:${jobId}:contributor:${address}`, {
    jobId,
    earned: work.earned as never,
    accepted: work.accepted ?? 1,
    rejected: work.rejected ?? 0,
  });
  await treasury().creditFee(`job:${jobId}:fee`, jobId, work.fee as never);
  await account.release(jobId, `job:${jobId}:release`);
}

/** Signs up, deposits `amount` through Solana Pay and waits for the credit. */
export async function fundedAccount(amount: number) {
  const { apiKey, accountId } = await signup();
  const intent = await deposit(apiKey, amount);
  await chain("pay", { payer: await wallet(), url: intent.request.url });
  await watch();
  expect((await depositState(apiKey, intent.id)).status).toBe("credited");
  return { apiKey, accountId };
}

export async function ledger() {
  const res = await api("/v1/admin/ledger", {
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as {
    sources: { trial_credit: number; deposits: number; stake: number; total: number };
    holdings: Record<
      | "accounts_available"
      | "accounts_held"
      | "contributors_available"
      | "payouts_pending"
      | "stake_locked"
      | "stake_unstaking"
      | "fees"
      | "metered_revenue"
      | "insurance"
      | "paid_out"
      | "in_transit"
      | "total",
      number
    >;
    balanced: boolean;
    difference: number;
    counts: { accounts: number; contributors: number };
    on_chain: {
      configured: boolean;
      balance: number;
      expected: number;
      uncredited_receipts: number;
      float: number;
    };
  };
}
