import type { Micros } from "../../protocol/money.ts";
import type { Treasury } from "../treasury/treasury.ts";

/**
 * The Contributor's settlement tables and its outbox to the Treasury (issue 7): payouts it asked
 * for, stake operations (idempotent by op id), unstakes cooling down, and calls to the Treasury
 * that must happen exactly once after a local write (register, queue a payout, credit insurance).
 */
export const SETTLEMENT_MIGRATIONS = [
  `ALTER TABLE contributor ADD COLUMN pending INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0);
   ALTER TABLE contributor ADD COLUMN stake INTEGER NOT NULL DEFAULT 0 CHECK (stake >= 0);
   ALTER TABLE contributor ADD COLUMN unstaking INTEGER NOT NULL DEFAULT 0 CHECK (unstaking >= 0);
   ALTER TABLE contributor ADD COLUMN unstake_paid INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE contributor ADD COLUMN slashed INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE payouts (
     id          TEXT PRIMARY KEY,
     kind        TEXT NOT NULL CHECK (kind IN ('earnings', 'unstake')),
     amount      INTEGER NOT NULL CHECK (amount > 0),
     address     TEXT NOT NULL,
     status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
     signature   TEXT,
     created_at  INTEGER NOT NULL,
     paid_at     INTEGER
   );
   CREATE TABLE stake_ops (
     op_id   TEXT PRIMARY KEY,
     kind    TEXT NOT NULL,
     amount  INTEGER NOT NULL,
     at      INTEGER NOT NULL
   );
   CREATE TABLE unstakes (
     op_id     TEXT PRIMARY KEY,
     amount    INTEGER NOT NULL CHECK (amount >= 0),
     ready_at  INTEGER NOT NULL,
     status    TEXT NOT NULL DEFAULT 'cooling' CHECK (status IN ('cooling', 'queued'))
   );
   CREATE TABLE outbox (
     op_id         TEXT PRIMARY KEY,
     action        TEXT NOT NULL CHECK (action IN ('register', 'payout', 'insurance')),
     amount        INTEGER NOT NULL DEFAULT 0,
     args          TEXT NOT NULL,
     created_at    INTEGER NOT NULL,
     delivered_at  INTEGER
   );`,
] as const;

export interface PayoutView {
  id: string;
  kind: "earnings" | "unstake";
  amount: Micros;
  address: string;
  status: "pending" | "paid";
  signature: string | null;
  created_at: string;
  paid_at: string | null;
}

type Action = "register" | "payout" | "insurance";

export function enqueue(
  sql: SqlStorage,
  opId: string,
  action: Action,
  args: Record<string, string | number>,
): void {
  sql.exec(
    "INSERT OR IGNORE INTO outbox (op_id, action, amount, args, created_at) VALUES (?, ?, ?, ?, ?)",
    opId,
    action,
    typeof args.amount === "number" ? args.amount : 0,
    JSON.stringify(args),
    Date.now(),
  );
}

/**
 * Delivers the undelivered rows in order. The Treasury's methods are idempotent by op or payout
 * id, so a row delivered twice (a crash after the call, before the mark) changes nothing.
 * Returns true if any row failed (the caller retries by alarm).
 */
export async function deliverOutbox(
  sql: SqlStorage,
  treasury: DurableObjectStub<Treasury>,
  address: string,
): Promise<boolean> {
  const rows = sql
    .exec<{ op_id: string; action: Action; args: string }>(
      "SELECT op_id, action, args FROM outbox WHERE delivered_at IS NULL ORDER BY created_at, op_id",
    )
    .toArray();
  let failed = false;
  for (const row of rows) {
    const args = JSON.parse(row.args) as Record<string, string | number>;
    try {
      if (row.action === "register") await treasury.registerContributor(address);
      else if (row.action === "insurance") {
        await treasury.creditInsurance(row.op_id, address, Number(args.amount) as Micros);
      } else {
        await treasury.queuePayout({
          id: String(args.id),
          contributor: address,
          address: String(args.address),
          kind: args.kind === "unstake" ? "unstake" : "earnings",
          amount: Number(args.amount) as Micros,
        });
      }
      sql.exec("UPDATE outbox SET delivered_at = ? WHERE op_id = ?", Date.now(), row.op_id);
    } catch (e) {
      console.error(`contributor ${address}: outbox ${row.op_id}:`, e);
      failed = true;
      break; // in order: a later row waits for an earlier one
    }
  }
  return failed;
}

/** A landed payout: moves its amount from pending to paid (earnings) or unstaking to paid back. */
export function markPayoutPaid(
  sql: SqlStorage,
  payoutId: string,
  signature: string,
  now: number,
): void {
  const p = sql
    .exec<{ kind: string; amount: number; status: string }>(
      "SELECT kind, amount, status FROM payouts WHERE id = ?",
      payoutId,
    )
    .toArray()[0];
  if (!p || p.status === "paid") return;
  sql.exec(
    "UPDATE payouts SET status = 'paid', signature = ?, paid_at = ? WHERE id = ?",
    signature,
    now,
    payoutId,
  );
  if (p.kind === "earnings") {
    sql.exec("UPDATE contributor SET pending = pending - ?, paid = paid + ?", p.amount, p.amount);
  } else {
    sql.exec(
      "UPDATE contributor SET unstaking = unstaking - ?, unstake_paid = unstake_paid + ?",
      p.amount,
      p.amount,
    );
  }
}

export function addUnstake(sql: SqlStorage, opId: string, amount: Micros, readyAt: number): void {
  sql.exec(
    "INSERT OR IGNORE INTO unstakes (op_id, amount, ready_at) VALUES (?, ?, ?)",
    opId,
    amount,
    readyAt,
  );
}

export function dueUnstakes(sql: SqlStorage, now: number) {
  return sql
    .exec<{ op_id: string; amount: number }>(
      "SELECT op_id, amount FROM unstakes WHERE status = 'cooling' AND ready_at <= ?",
      now,
    )
    .toArray();
}

/** Takes up to `amount` from cooling unstakes, newest first; returns what it took. */
export function takeFromUnstaking(sql: SqlStorage, amount: number): number {
  let left = amount;
  const cooling = sql
    .exec<{ op_id: string; amount: number }>(
      "SELECT op_id, amount FROM unstakes WHERE status = 'cooling' ORDER BY ready_at DESC",
    )
    .toArray();
  for (const u of cooling) {
    if (left <= 0) break;
    const take = Math.min(left, u.amount);
    sql.exec("UPDATE unstakes SET amount = amount - ? WHERE op_id = ?", take, u.op_id);
    left -= take;
  }
  return amount - left;
}

export function payoutViews(sql: SqlStorage, limit = 50): PayoutView[] {
  return sql
    .exec<{
      id: string;
      kind: "earnings" | "unstake";
      amount: number;
      address: string;
      status: "pending" | "paid";
      signature: string | null;
      created_at: number;
      paid_at: number | null;
    }>("SELECT * FROM payouts ORDER BY created_at DESC, id LIMIT ?", limit)
    .toArray()
    .map((p) => ({
      id: p.id,
      kind: p.kind,
      amount: p.amount as Micros,
      address: p.address,
      status: p.status,
      signature: p.signature,
      created_at: new Date(p.created_at).toISOString(),
      paid_at: p.paid_at === null ? null : new Date(p.paid_at).toISOString(),
    }));
}
