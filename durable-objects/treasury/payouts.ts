import type { Address, Base64EncodedWireTransaction, KeyPairSigner, Signature } from "@solana/kit";
import {
  type PayoutAttempt,
  type PayoutResult,
  payBatch,
  planPayoutBatches,
  type TreasuryRpc,
} from "../../contracts/index.ts";
import { randomBase32 } from "../../protocol/ids.ts";
import type { Micros } from "../../protocol/money.ts";

/**
 * Payouts out: contributors' Contributor objects queue payouts here (earnings past the threshold,
 * stake after its cooldown); the alarm groups queued payouts into batches and pays each batch with
 * `payBatch` (contracts/payouts.ts). The rule against paying twice, on our side: a payout is put
 * in one batch once, in a transaction, and never moves; every signed attempt is written to SQLite
 * and flushed (`storage.sync()`) before `payBatch` may send it; an open batch is always resumed
 * with all its recorded attempts, so after a crash `payBatch` asks the chain before sending.
 */
export type PayoutKind = "earnings" | "unstake";

export interface QueuedPayout {
  id: string;
  contributor: string;
  /** Where the USDC goes: the contributor's payout address. */
  address: string;
  kind: PayoutKind;
  amount: Micros;
}

interface PayoutRow extends Record<string, SqlStorageValue> {
  id: string;
  contributor: string;
  address: string;
  kind: PayoutKind;
  amount: number;
}

interface AttemptRow extends Record<string, SqlStorageValue> {
  signature: string;
  tx: string;
  last_valid_block_height: number;
}

export function queuePayout(sql: SqlStorage, p: QueuedPayout, now: number): void {
  sql.exec(
    `INSERT OR IGNORE INTO payouts (id, contributor, address, kind, amount, created_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
    p.id,
    p.contributor,
    p.address,
    p.kind,
    p.amount,
    now,
  );
}

export function hasPayoutWork(sql: SqlStorage): boolean {
  return (
    sql
      .exec(
        `SELECT 1 FROM payouts WHERE status = 'queued'
         UNION ALL SELECT 1 FROM batches WHERE status = 'open' LIMIT 1`,
      )
      .toArray().length > 0
  );
}

/** Puts every queued payout into a batch (planned to fit one transaction each). */
export async function planBatches(
  storage: DurableObjectStorage,
  treasury: KeyPairSigner,
  mint: Address,
  now: number,
): Promise<void> {
  const queued = storage.sql
    .exec<PayoutRow>("SELECT * FROM payouts WHERE status = 'queued' ORDER BY created_at, id")
    .toArray();
  if (queued.length === 0) return;
  const planned = await planPayoutBatches({
    treasury,
    mint,
    payouts: queued.map((p) => ({ id: p.id, address: p.address as Address, amount: p.amount })),
  });
  storage.transactionSync(() => {
    for (const batch of planned) {
      const id = `bat_${randomBase32(20)}`;
      storage.sql.exec(
        "INSERT INTO batches (id, total, created_at) VALUES (?, ?, ?)",
        id,
        batch.reduce((sum, p) => sum + Number(p.amount), 0),
        now,
      );
      for (const p of batch) {
        // `status = 'queued'` keeps a payout in the first batch it joined.
        storage.sql.exec(
          "UPDATE payouts SET batch_id = ?, status = 'batched' WHERE id = ? AND status = 'queued'",
          id,
          p.id,
        );
      }
    }
  });
}

export function openBatches(sql: SqlStorage): string[] {
  return sql
    .exec<{ id: string }>("SELECT id FROM batches WHERE status = 'open' ORDER BY created_at, id")
    .toArray()
    .map((r) => r.id);
}

/**
 * Pays one open batch, resuming from its recorded attempts. Returns the landed payouts (the
 * caller tells their Contributors in the same transaction that marks them paid).
 */
export async function payOpenBatch(
  storage: DurableObjectStorage,
  rpc: TreasuryRpc,
  treasury: KeyPairSigner,
  mint: Address,
  batchId: string,
  options: { timeoutMs: number; pollIntervalMs: number },
): Promise<{ result: PayoutResult; payouts: QueuedPayout[] }> {
  const sql = storage.sql;
  const payouts = sql
    .exec<PayoutRow>("SELECT * FROM payouts WHERE batch_id = ? ORDER BY created_at, id", batchId)
    .toArray();
  const attempts: PayoutAttempt[] = sql
    .exec<AttemptRow>("SELECT * FROM attempts WHERE batch_id = ?", batchId)
    .toArray()
    .map((a) => ({
      signature: a.signature as Signature,
      transaction: a.tx as Base64EncodedWireTransaction,
      lastValidBlockHeight: BigInt(a.last_valid_block_height),
    }));
  const result = await payBatch(
    rpc,
    {
      treasury,
      mint,
      payouts: payouts.map((p) => ({ id: p.id, address: p.address as Address, amount: p.amount })),
    },
    {
      attempts,
      sent: async (attempt) => {
        sql.exec(
          `INSERT OR IGNORE INTO attempts (signature, batch_id, tx, last_valid_block_height, at)
           VALUES (?, ?, ?, ?, ?)`,
          attempt.signature,
          batchId,
          attempt.transaction,
          Number(attempt.lastValidBlockHeight),
          Date.now(),
        );
        // Durable before it may be sent: the record is what lets a retry find this attempt.
        await storage.sync();
      },
      timeoutMs: options.timeoutMs,
      pollIntervalMs: options.pollIntervalMs,
    },
  );
  return {
    result,
    payouts: payouts.map((p) => ({
      id: p.id,
      contributor: p.contributor,
      address: p.address,
      kind: p.kind,
      amount: p.amount as Micros,
    })),
  };
}

/** Marks a batch and its payouts paid (inside the caller's transaction). */
export function markBatchPaid(
  sql: SqlStorage,
  batchId: string,
  result: PayoutResult,
  now: number,
): void {
  sql.exec(
    `UPDATE batches SET status = 'paid', signature = ?, slot = ?, paid_at = ?, last_error = NULL
     WHERE id = ?`,
    result.signature,
    Number(result.slot),
    now,
    batchId,
  );
  sql.exec(
    "UPDATE payouts SET status = 'paid', signature = ?, paid_at = ? WHERE batch_id = ?",
    result.signature,
    now,
    batchId,
  );
}
