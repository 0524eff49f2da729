import type { Micros } from "../../protocol/money.ts";
import type { Env } from "../../workers/env.ts";
import { one } from "../sql.ts";

/**
 * The ledger proof (`GET /v1/admin/ledger`, issue 7): every base unit that came in is somewhere.
 *
 *   trial credit + deposits + stake
 *     = Σ accounts (available + held)
 *     + Σ contributors (available earnings + payouts pending + stake locked + stake unstaking)
 *     + fees + metered revenue (less what storage providers were paid out of it: `provider_pay`,
 *       now their earnings) + insurance + paid out (earnings and stake)
 *     + in transit (credits written to an outbox and not yet delivered: the Treasury's own, slashes
 *       on their way to insurance, and metered charges an Account debited and has not yet handed
 *       to the Treasury)
 *
 * Trial credit and deposits reach accounts; accounts pay jobs (contributors' earnings and fees)
 * and metered revenue; contributors' earnings and stake leave as payouts or, for stake, as
 * insurance when slashed. The left side is what the Treasury itself recorded (credited intents);
 * the right side is read from every registered `Account` and `Contributor`. Beside it, the
 * on-chain side: what the treasury's token account should hold (every base unit received, credited
 * or refused, less what was paid out) and what it does hold; the difference is the operator's own
 * float (USDC put in to pay contributors before deposits arrived, or fees taken out).
 */
export interface LedgerProof {
  as_of: string;
  sources: { trial_credit: Micros; deposits: Micros; stake: Micros; total: Micros };
  holdings: {
    accounts_available: Micros;
    accounts_held: Micros;
    contributors_available: Micros;
    payouts_pending: Micros;
    stake_locked: Micros;
    stake_unstaking: Micros;
    fees: Micros;
    metered_revenue: Micros;
    insurance: Micros;
    paid_out: Micros;
    in_transit: Micros;
    total: Micros;
  };
  balanced: boolean;
  /** sources − holdings: 0 when the books balance. */
  difference: number;
  counts: { accounts: number; contributors: number };
  on_chain: {
    configured: boolean;
    /** The treasury's token account at `finalized`, via the RPC (null when not configured or the RPC did not answer). */
    balance: Micros | null;
    /** Received on chain (credited or refused) − paid out. */
    expected: Micros;
    /** Received but not credited: refused payments (underpaid, …) the operator owes back. */
    uncredited_receipts: Micros;
    /** balance − expected: the operator's float. */
    float: number | null;
  };
}

export interface ContributorBooks {
  available: Micros;
  pending: Micros;
  paid: Micros;
  stake: Micros;
  unstaking: Micros;
  unstake_paid: Micros;
  slash_in_transit: Micros;
}

export async function computeLedger(
  sql: SqlStorage,
  env: Env,
  onChain: { balance: bigint | null } | null,
): Promise<LedgerProof> {
  const sum = (query: string, ...b: unknown[]) =>
    one<{ t: number }>(sql, `SELECT COALESCE(SUM(amount), 0) AS t FROM ${query}`, ...b)?.t ?? 0;
  const creditedReceived =
    one<{ t: number }>(
      sql,
      "SELECT COALESCE(SUM(received), 0) AS t FROM intents WHERE status = 'credited'",
    )?.t ?? 0;
  const refusedReceived =
    one<{ t: number }>(
      sql,
      "SELECT COALESCE(SUM(received), 0) AS t FROM intents WHERE status = 'rejected'",
    )?.t ?? 0;
  const landed = sum("payouts WHERE status = 'paid'");
  const fees = sum("fees");
  // Metered revenue less what storage providers were paid out of it (their earnings hold that).
  const revenue = sum("revenue") - sum("provider_pay");
  const insurance = sum("insurance");
  const outboxInTransit = sum(
    "outbox WHERE delivered_at IS NULL AND action IN ('credit', 'stake', 'earn')",
  );

  const accountIds = sql
    .exec<{ id: string }>("SELECT id FROM accounts ORDER BY id")
    .toArray()
    .map((r) => r.id);
  let trial = 0;
  let available = 0;
  let held = 0;
  let revenueInTransit = 0;
  for (const id of accountIds) {
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(id));
    const [balance, first, unsent] = await Promise.all([
      account.balance(),
      account.journal(0, 1),
      account.revenueInTransit(),
    ]);
    available += balance.available;
    held += balance.held;
    revenueInTransit += unsent;
    const opening = first[0];
    if (opening?.op_id === "trial-credit") trial += opening.amount;
  }

  const addresses = sql
    .exec<{ address: string }>("SELECT address FROM contributors ORDER BY address")
    .toArray()
    .map((r) => r.address);
  const c = {
    available: 0,
    pending: 0,
    paid: 0,
    stake: 0,
    unstaking: 0,
    unstake_paid: 0,
    slash_in_transit: 0,
  };
  for (const address of addresses) {
    const books = await env.CONTRIBUTOR.get(env.CONTRIBUTOR.idFromName(address)).books(address);
    for (const k of Object.keys(c) as (keyof typeof c)[]) c[k] += books[k];
  }

  // An intent credits what arrived (at least what was asked), so the sources count `received`.
  const depositsCredited =
    one<{ t: number }>(
      sql,
      "SELECT COALESCE(SUM(received), 0) AS t FROM intents WHERE status = 'credited' AND kind = 'deposit'",
    )?.t ?? 0;
  const stakeCredited = creditedReceived - depositsCredited;

  const sources = trial + depositsCredited + stakeCredited;
  const paidOut = c.paid + c.unstake_paid;
  const inTransit = outboxInTransit + c.slash_in_transit + revenueInTransit;
  const holdings =
    available +
    held +
    c.available +
    c.pending +
    c.stake +
    c.unstaking +
    fees +
    revenue +
    insurance +
    paidOut +
    inTransit;
  const expected = creditedReceived + refusedReceived - landed;
  const balance = onChain?.balance ?? null;
  const m = (n: number) => n as Micros;
  return {
    as_of: new Date().toISOString(),
    sources: {
      trial_credit: m(trial),
      deposits: m(depositsCredited),
      stake: m(stakeCredited),
      total: m(sources),
    },
    holdings: {
      accounts_available: m(available),
      accounts_held: m(held),
      contributors_available: m(c.available),
      payouts_pending: m(c.pending),
      stake_locked: m(c.stake),
      stake_unstaking: m(c.unstaking),
      fees: m(fees),
      metered_revenue: m(revenue),
      insurance: m(insurance),
      paid_out: m(paidOut),
      in_transit: m(inTransit),
      total: m(holdings),
    },
    balanced: sources === holdings,
    difference: sources - holdings,
    counts: { accounts: accountIds.length, contributors: addresses.length },
    on_chain: {
      configured: onChain !== null,
      balance: balance === null ? null : m(Number(balance)),
      expected: m(expected),
      uncredited_receipts: m(refusedReceived),
      float: balance === null ? null : Number(balance) - expected,
    },
  };
}
