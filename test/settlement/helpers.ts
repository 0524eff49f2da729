import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, bearer, jsonInit } from "../workers/helpers.ts";

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
  payouts: { id: string; kind: string; amount: number; status: string; signature: string | null }[];
}

export async function contributorRecord(address: string): Promise<ContributorRecord> {
  return (await (await api(`/v1/contributors/${address}`)).json()) as ContributorRecord;
}

export const contributorStub = (address: string) =>
  env.CONTRIBUTOR.get(env.CONTRIBUTOR.idFromName(address));
