import { DurableObject } from "cloudflare:workers";
import type { Micros } from "../../protocol/money.ts";
import { migrate, one } from "../sql.ts";

/**
 * The platform's own books (one object, named `treasury`). As built: the platform fee account,
 * credited by each job's settlement with an operation id (`job:<id>:fee`), so a retried
 * settlement never counts a fee twice; and metered revenue (storage, egress) debited by accounts,
 * credited here with the account's journal op id. Deposits and payouts on Solana arrive with billing.
 */
const MIGRATIONS = [
  `CREATE TABLE fees (
     op_id   TEXT PRIMARY KEY,
     job_id  TEXT NOT NULL,
     amount  INTEGER NOT NULL CHECK (amount >= 0),
     at      INTEGER NOT NULL
   );`,
  // Metered charges (storage held, egress served): what an account paid the platform directly,
  // not through a job. One row per charge, keyed by the Account's journal op id.
  `CREATE TABLE revenue (
     op_id    TEXT PRIMARY KEY,
     meter    TEXT NOT NULL,
     account  TEXT NOT NULL,
     amount   INTEGER NOT NULL CHECK (amount >= 0),
     at       INTEGER NOT NULL
   );`,
] as const;

export class Treasury extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /** Credits a job's platform fee; the same `opId` again changes nothing. */
  creditFee(opId: string, jobId: string, amount: Micros): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO fees (op_id, job_id, amount, at) VALUES (?, ?, ?, ?)",
      opId,
      jobId,
      amount,
      Date.now(),
    );
  }

  /** Credits a metered charge (storage, egress) debited from an account; idempotent by `opId`. */
  creditRevenue(opId: string, meter: string, account: string, amount: Micros): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO revenue (op_id, meter, account, amount, at) VALUES (?, ?, ?, ?, ?)",
      opId,
      meter,
      account,
      amount,
      Date.now(),
    );
  }

  /** Every metered charge credited so far. */
  revenue(): Micros {
    return (one<{ total: number }>(
      this.ctx.storage.sql,
      "SELECT COALESCE(SUM(amount), 0) AS total FROM revenue",
    )?.total ?? 0) as Micros;
  }

  /** The fee credited for one job (0 if none yet). */
  feeFor(jobId: string): Micros {
    return (one<{ total: number }>(
      this.ctx.storage.sql,
      "SELECT COALESCE(SUM(amount), 0) AS total FROM fees WHERE job_id = ?",
      jobId,
    )?.total ?? 0) as Micros;
  }

  /** Every fee credited so far. */
  fees(): Micros {
    return (one<{ total: number }>(
      this.ctx.storage.sql,
      "SELECT COALESCE(SUM(amount), 0) AS total FROM fees",
    )?.total ?? 0) as Micros;
  }
}
