import { DurableObject } from "cloudflare:workers";
import type { Micros } from "../../protocol/money.ts";
import { migrate, one } from "../sql.ts";

/**
 * The platform's own books (one object, named `treasury`). As built: the platform fee account,
 * credited by each job's settlement with an operation id (`job:<id>:fee`), so a retried
 * settlement never counts a fee twice. Deposits and payouts on Solana arrive with billing.
 */
const MIGRATIONS = [
  `CREATE TABLE fees (
     op_id   TEXT PRIMARY KEY,
     job_id  TEXT NOT NULL,
     amount  INTEGER NOT NULL CHECK (amount >= 0),
     at      INTEGER NOT NULL
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
