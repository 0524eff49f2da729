import type { Address, Signature } from "@solana/kit";
import {
  checkDeposit,
  DEPOSIT_ERRORS,
  type DepositCheck,
  depositRequest,
  stakeRequest,
  type TreasuryRpc,
} from "../../contracts/index.ts";
import type { Micros } from "../../protocol/money.ts";
import { one } from "../sql.ts";

/**
 * Deposit and stake intents: a Solana Pay request the customer (or contributor) pays, found by
 * its reference and credited once with what arrived (issue 7, "Deposits"; contracts/deposits.ts
 * holds the rules). A payment below the asked amount is refused (`underpaid`) rather than
 * credited short, and the amount that did arrive stays visible on the intent.
 */
export type IntentKind = "deposit" | "stake";
export type IntentStatus = "pending" | "credited" | "rejected" | "expired";

export interface IntentRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: IntentKind;
  owner: string;
  amount: number;
  reference: string;
  memo: string;
  url: string;
  status: IntentStatus;
  received: number;
  signature: string | null;
  payer: string | null;
  code: string | null;
  detail: string | null;
  created_at: number;
  expires_at: number;
  checked_at: number | null;
  settled_at: number | null;
}

export interface IntentView {
  id: string;
  kind: IntentKind;
  /** The account (deposit) or contributor address (stake) credited. */
  owner: string;
  status: IntentStatus;
  /** What was asked for, base units. */
  amount: Micros;
  /** What arrived in the treasury's token account (0 until a payment is found). */
  received: Micros;
  signature: string | null;
  payer: string | null;
  /** Why the intent was not credited (a stable code of contracts/deposits.ts), or null. */
  reason: { code: string; detail: string } | null;
  request: { url: string; reference: string; memo: string };
  created_at: string;
  expires_at: string;
  checked_at: string | null;
  settled_at: string | null;
}

export interface NewIntent {
  id: string;
  kind: IntentKind;
  owner: string;
  amount: Micros;
  ttlMs: number;
  treasury: Address;
  mint: Address;
}

/** Creates the intent with a fresh reference, or returns the one already filed under `id`. */
export function createIntent(sql: SqlStorage, input: NewIntent, now: number): IntentRow {
  const existing = intentRow(sql, input.id);
  if (existing) return existing;
  const request =
    input.kind === "stake"
      ? stakeRequest({
          intentId: input.id,
          contributor: input.owner as Address,
          treasury: input.treasury,
          mint: input.mint,
          amount: input.amount,
        })
      : depositRequest({
          intentId: input.id,
          treasury: input.treasury,
          mint: input.mint,
          amount: input.amount,
          label: "Tessera",
          message: `Deposit to ${input.owner}`,
        });
  sql.exec(
    `INSERT INTO intents (id, kind, owner, amount, reference, memo, url, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    input.id,
    input.kind,
    input.owner,
    input.amount,
    request.reference,
    request.memo,
    request.url,
    now,
    now + input.ttlMs,
  );
  return intentRow(sql, input.id) as IntentRow;
}

export function intentRow(sql: SqlStorage, id: string): IntentRow | undefined {
  return one<IntentRow>(sql, "SELECT * FROM intents WHERE id = ?", id);
}

export function intentView(row: IntentRow): IntentView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: row.id,
    kind: row.kind,
    owner: row.owner,
    status: row.status,
    amount: row.amount as Micros,
    received: row.received as Micros,
    signature: row.signature,
    payer: row.payer,
    reason: row.code ? { code: row.code, detail: row.detail ?? "" } : null,
    request: { url: row.url, reference: row.reference, memo: row.memo },
    created_at: new Date(row.created_at).toISOString(),
    expires_at: new Date(row.expires_at).toISOString(),
    checked_at: iso(row.checked_at),
    settled_at: iso(row.settled_at),
  };
}

/** Open intents, oldest first. */
export function pendingIntents(sql: SqlStorage, limit = 100): IntentRow[] {
  return sql
    .exec<IntentRow>(
      "SELECT * FROM intents WHERE status = 'pending' ORDER BY created_at LIMIT ?",
      limit,
    )
    .toArray();
}

/** Asks the chain about one intent. Network failures throw; the alarm tries again later. */
export function lookForPayment(
  sql: SqlStorage,
  rpc: TreasuryRpc,
  row: IntentRow,
  chain: { treasury: Address; mint: Address },
): Promise<DepositCheck> {
  return checkDeposit(
    rpc,
    {
      reference: row.reference as Address,
      amount: BigInt(row.amount),
      treasury: chain.treasury,
      mint: chain.mint,
    },
    {
      // Credited to another intent already: one payment, one credit.
      seen: (signature: Signature) =>
        one(
          sql,
          "SELECT 1 AS x FROM credited WHERE signature = ? AND intent_id != ?",
          signature,
          row.id,
        ) !== undefined,
      underpayment: "reject",
    },
  );
}

/**
 * Records what the chain said, in the caller's transaction. Returns the credit to deliver (the
 * caller writes it to the outbox in the same transaction), or null.
 */
export function settleIntent(
  sql: SqlStorage,
  row: IntentRow,
  check: DepositCheck,
  now: number,
): { amount: Micros } | null {
  if (check.ok) {
    // The UNIQUE signature is the last word against a replay: a signature taken meanwhile by
    // another intent makes this insert a no-op, and the intent is refused instead.
    const taken = sql.exec(
      "INSERT OR IGNORE INTO credited (signature, intent_id) VALUES (?, ?)",
      check.signature,
      row.id,
    ).rowsWritten;
    if (taken === 0) {
      reject(sql, row, "replayed", `${check.signature} was already credited`, now, check.signature);
      return null;
    }
    sql.exec(
      `UPDATE intents SET status = 'credited', received = ?, signature = ?, payer = ?,
         checked_at = ?, settled_at = ?, code = NULL, detail = NULL WHERE id = ?`,
      Number(check.received),
      check.signature,
      check.payer,
      now,
      now,
      row.id,
    );
    return { amount: Number(check.received) as Micros };
  }
  if (!DEPOSIT_ERRORS[check.code].retry) {
    reject(sql, row, check.code, check.detail, now, check.signature, check.received);
    return null;
  }
  // Nothing yet (or not final): wait, unless the request has expired with nothing landed.
  if (check.code === "not_found" && now >= row.expires_at) {
    sql.exec(
      `UPDATE intents SET status = 'expired', code = 'expired', detail = ?, checked_at = ?,
         settled_at = ? WHERE id = ?`,
      `no payment arrived before ${new Date(row.expires_at).toISOString()}`,
      now,
      now,
      row.id,
    );
    return null;
  }
  sql.exec(
    "UPDATE intents SET code = ?, detail = ?, checked_at = ? WHERE id = ?",
    check.code,
    check.detail,
    now,
    row.id,
  );
  return null;
}

function reject(
  sql: SqlStorage,
  row: IntentRow,
  code: string,
  detail: string,
  now: number,
  signature?: string,
  received?: bigint,
): void {
  sql.exec(
    `UPDATE intents SET status = 'rejected', code = ?, detail = ?, signature = ?, received = ?,
       checked_at = ?, settled_at = ? WHERE id = ?`,
    code,
    detail,
    signature ?? null,
    Number(received ?? 0n),
    now,
    now,
    row.id,
  );
}
