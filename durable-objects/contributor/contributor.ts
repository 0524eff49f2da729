import { DurableObject } from "cloudflare:workers";
import type { TrustTier } from "../../protocol/contributor.ts";
import type { Micros } from "../../protocol/money.ts";
import { migrate, one } from "../sql.ts";

/**
 * One contributor, keyed by its Solana address: its record (results accepted and rejected) and
 * its earnings. Jobs report here when they settle, one entry per job with an operation id
 * (`job:<id>:contributor:<address>`), so a retried settlement never counts or pays twice.
 *
 * Trust follows the record since the last wrong answer (`streak`): below
 * `ESTABLISHED_AFTER` accepted results a contributor is `new` (it gets canary tasks), from
 * `TRUSTED_AFTER` it is `trusted` (its tasks are verified by sampling). One rejected result
 * resets the streak: a contributor caught lying starts over as `new`.
 */
export const ESTABLISHED_AFTER = 20;
export const TRUSTED_AFTER = 1_000;

export interface ContributorView {
  address: string;
  trust: TrustTier;
  record: { accepted: number; rejected: number; streak: number; jobs: number };
  /** Where earnings are paid: the contributor's own address unless it named another. */
  payout_address: string;
  /** USDC base units: `available` is earned and settled, `paid` has left on Solana. */
  earnings: { available: Micros; paid: Micros };
  last_caught_at: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE contributor (
     address         TEXT PRIMARY KEY,
     accepted        INTEGER NOT NULL DEFAULT 0,
     rejected        INTEGER NOT NULL DEFAULT 0,
     streak          INTEGER NOT NULL DEFAULT 0,
     jobs            INTEGER NOT NULL DEFAULT 0,
     earned          INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0),
     paid            INTEGER NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= earned),
     last_caught_at  INTEGER
   );
   CREATE TABLE entries (
     op_id     TEXT PRIMARY KEY,
     job_id    TEXT NOT NULL,
     earned    INTEGER NOT NULL CHECK (earned >= 0),
     accepted  INTEGER NOT NULL,
     rejected  INTEGER NOT NULL,
     at        INTEGER NOT NULL
   );`,
  "ALTER TABLE contributor ADD COLUMN payout TEXT;",
] as const;

interface Row extends Record<string, SqlStorageValue> {
  address: string;
  accepted: number;
  rejected: number;
  streak: number;
  jobs: number;
  earned: number;
  paid: number;
  last_caught_at: number | null;
  payout: string | null;
}

export class Contributor extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /**
   * Records one job's outcome for this contributor. Accepted results raise the streak; any
   * rejected result resets it to 0 (after counting the job's accepted ones). Idempotent by `opId`.
   */
  record(
    address: string,
    opId: string,
    entry: { jobId: string; earned: Micros; accepted: number; rejected: number },
  ): ContributorView {
    this.ctx.storage.transactionSync(() => {
      if (one(this.sql, "SELECT 1 AS x FROM entries WHERE op_id = ?", opId)) return;
      const now = Date.now();
      this.sql.exec(
        "INSERT INTO entries (op_id, job_id, earned, accepted, rejected, at) VALUES (?, ?, ?, ?, ?, ?)",
        opId,
        entry.jobId,
        entry.earned,
        entry.accepted,
        entry.rejected,
        now,
      );
      this.sql.exec("INSERT OR IGNORE INTO contributor (address) VALUES (?)", address);
      this.sql.exec(
        `UPDATE contributor SET accepted = accepted + ?, rejected = rejected + ?, jobs = jobs + 1,
           earned = earned + ?,
           streak = CASE WHEN ? > 0 THEN 0 ELSE streak + ? END,
           last_caught_at = CASE WHEN ? > 0 THEN ? ELSE last_caught_at END`,
        entry.accepted,
        entry.rejected,
        entry.earned,
        entry.rejected,
        entry.accepted,
        entry.rejected,
        now,
      );
    });
    return this.view(address);
  }

  view(address: string): ContributorView {
    const row = one<Row>(this.sql, "SELECT * FROM contributor LIMIT 1");
    const streak = row?.streak ?? 0;
    return {
      address,
      trust: tierOf(streak),
      record: {
        accepted: row?.accepted ?? 0,
        rejected: row?.rejected ?? 0,
        streak,
        jobs: row?.jobs ?? 0,
      },
      earnings: {
        available: ((row?.earned ?? 0) - (row?.paid ?? 0)) as Micros,
        paid: (row?.paid ?? 0) as Micros,
      },
      last_caught_at: row?.last_caught_at ? new Date(row.last_caught_at).toISOString() : null,
      payout_address: row?.payout ?? address,
    };
  }

  /** A connection's handshake: records the payout address (if given) and answers the tier. */
  hello(address: string, payout?: string): TrustTier {
    if (payout) {
      this.sql.exec("INSERT OR IGNORE INTO contributor (address) VALUES (?)", address);
      this.sql.exec("UPDATE contributor SET payout = ?", payout);
    }
    return tierOf(one<Row>(this.sql, "SELECT * FROM contributor LIMIT 1")?.streak ?? 0);
  }

  private get sql() {
    return this.ctx.storage.sql;
  }
}

export function tierOf(streak: number): TrustTier {
  if (streak >= TRUSTED_AFTER) return "trusted";
  if (streak >= ESTABLISHED_AFTER) return "established";
  return "new";
}
