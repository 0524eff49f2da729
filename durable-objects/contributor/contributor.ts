import { DurableObject } from "cloudflare:workers";
import { slashAmount } from "../../contracts/stake.ts";
import type { TrustTier } from "../../protocol/contributor.ts";
import { randomBase32 } from "../../protocol/ids.ts";
import type { Micros } from "../../protocol/money.ts";
import { config } from "../../workers/config.ts";
import type { Env } from "../../workers/env.ts";
import { migrate, one } from "../sql.ts";
import type { ContributorBooks } from "../treasury/ledger.ts";
import {
  addUnstake,
  deliverOutbox,
  dueUnstakes,
  enqueue,
  markPayoutPaid,
  type PayoutView,
  payoutViews,
  SETTLEMENT_MIGRATIONS,
  takeFromUnstaking,
} from "./settlement.ts";

/**
 * One contributor, keyed by its Solana address: its record (results accepted and rejected) and
 * its earnings. Jobs report here when they settle, one entry per job with an operation id
 * (`job:<id>:contributor:<address>`), so a retried settlement never counts or pays twice.
 *
 * Trust follows the record since the last wrong answer (`streak`): below
 * `ESTABLISHED_AFTER` accepted results a contributor is `new` (it gets canary tasks), from
 * `TRUSTED_AFTER` it is `trusted` (its tasks are verified by sampling). One rejected result
 * resets the streak: a contributor caught lying starts over as `new`.
 *
 * Money (issue 7, `settlement.ts`): earnings are `available` until they pass
 * `PAYOUT_THRESHOLD_MICROS`, then a payout is queued at the Treasury (`pending`) and becomes
 * `paid` when its batch lands. Stake arrives from the Treasury (a Solana Pay stake intent); stake
 * of at least `STAKE_TIER_MICROS` raises the trust tier one step; a job that rejects any of the
 * contributor's results slashes `STAKE_SLASH_BPS` of its stake (locked and cooling) to the
 * Treasury's insurance; unstaked USDC cools for `UNSTAKE_COOLDOWN`, still slashable, and is then
 * paid back like earnings. Every call to the Treasury goes through an outbox.
 */
export const ESTABLISHED_AFTER = 20;
export const TRUSTED_AFTER = 1_000;

export interface ContributorView {
  address: string;
  trust: TrustTier;
  record: { accepted: number; rejected: number; streak: number; jobs: number };
  /** Where earnings are paid: the contributor's own address unless it named another. */
  payout_address: string;
  /**
   * USDC base units: `available` is earned and settled, `pending` is in a payout not yet landed,
   * `paid` has left on Solana.
   */
  earnings: { available: Micros; pending: Micros; paid: Micros };
  /** `locked` counts for the tier; `unstaking` cools down (still slashable) before it is paid. */
  stake: {
    locked: Micros;
    unstaking: Micros;
    slashed: Micros;
    paid_back: Micros;
    unlocks_at: string | null;
  };
  /** Newest first, with the Solana signature of the batch that paid each. */
  payouts: PayoutView[];
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
  ...SETTLEMENT_MIGRATIONS,
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
  pending: number;
  stake: number;
  unstaking: number;
  unstake_paid: number;
  slashed: number;
}

export class Contributor extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /**
   * Records one job's outcome for this contributor. Accepted results raise the streak; any
   * rejected result resets it to 0 (after counting the job's accepted ones). Idempotent by `opId`.
   */
  async record(
    address: string,
    opId: string,
    entry: { jobId: string; earned: Micros; accepted: number; rejected: number },
  ): Promise<ContributorView> {
    const settings = config(this.env);
    this.ctx.storage.transactionSync(() => {
      if (one(this.sql, "SELECT 1 AS x FROM entries WHERE op_id = ?", opId)) return;
      // The first entry files this contributor in the Treasury's registry (the ledger proof).
      enqueue(this.sql, "register", "register", {});
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
      if (entry.rejected > 0) this.slash(address, opId, settings.stakeSlashBps);
      if (settings.solana) this.queueEarnings(address, settings.payoutThreshold);
    });
    await this.deliver();
    return this.view(address);
  }

  /** Stake credited by the Treasury (a landed stake intent); idempotent by `opId`. */
  async creditStake(address: string, opId: string, amount: Micros): Promise<ContributorView> {
    this.ctx.storage.transactionSync(() => {
      if (!this.firstTime(opId, "stake", amount)) return;
      this.sql.exec("INSERT OR IGNORE INTO contributor (address) VALUES (?)", address);
      this.sql.exec("UPDATE contributor SET stake = stake + ?", amount);
    });
    return this.view(address);
  }

  /**
   * Starts unstaking `amount` of locked stake: it stops counting for the tier now and is paid
   * back after the cooldown. Idempotent by `opId`.
   */
  async unstake(
    address: string,
    opId: string,
    amount: Micros,
  ): Promise<{ ok: true; view: ContributorView } | { ok: false; locked: Micros }> {
    const cooldown = config(this.env).unstakeCooldownMs;
    const locked = this.row()?.stake ?? 0;
    const fresh = !one(this.sql, "SELECT 1 AS x FROM stake_ops WHERE op_id = ?", opId);
    if (fresh && amount > locked) return { ok: false, locked: locked as Micros };
    const readyAt = Date.now() + cooldown;
    this.ctx.storage.transactionSync(() => {
      if (!this.firstTime(opId, "unstake", amount)) return;
      this.sql.exec(
        "UPDATE contributor SET stake = stake - ?, unstaking = unstaking + ?",
        amount,
        amount,
      );
      addUnstake(this.sql, opId, amount, readyAt);
    });
    await this.scheduleAt(readyAt);
    return { ok: true, view: this.view(address) };
  }

  /** The Treasury's word that a payout landed, with its signature; idempotent. */
  payoutPaid(address: string, payoutId: string, signature: string): ContributorView {
    this.ctx.storage.transactionSync(() =>
      markPayoutPaid(this.sql, payoutId, signature, Date.now()),
    );
    return this.view(address);
  }

  /** This contributor's side of the ledger proof. */
  books(_address: string): ContributorBooks {
    const r = this.row();
    const inTransit =
      one<{ t: number }>(
        this.sql,
        "SELECT COALESCE(SUM(amount), 0) AS t FROM outbox WHERE action = 'insurance' AND delivered_at IS NULL",
      )?.t ?? 0;
    const m = (n: number | undefined) => (n ?? 0) as Micros;
    return {
      available: m((r?.earned ?? 0) - (r?.paid ?? 0) - (r?.pending ?? 0)),
      pending: m(r?.pending),
      paid: m(r?.paid),
      stake: m(r?.stake),
      unstaking: m(r?.unstaking),
      unstake_paid: m(r?.unstake_paid),
      slash_in_transit: m(inTransit),
    };
  }

  /** Delivers the outbox and queues the payouts of stake whose cooldown is over. */
  override async alarm(): Promise<void> {
    const address = this.row()?.address;
    if (address) {
      const now = Date.now();
      this.ctx.storage.transactionSync(() => {
        for (const u of dueUnstakes(this.sql, now)) {
          // A cooling unstake can be slashed to nothing: then there is nothing to pay back.
          if (u.amount > 0) {
            this.queuePayout(address, "unstake", u.amount as Micros, `unstake:${u.op_id}`);
          }
          this.sql.exec("UPDATE unstakes SET status = 'queued' WHERE op_id = ?", u.op_id);
        }
      });
    }
    await this.deliver();
    const next = one<{ t: number }>(
      this.sql,
      "SELECT MIN(ready_at) AS t FROM unstakes WHERE status = 'cooling'",
    )?.t;
    if (next) await this.scheduleAt(next);
  }

  /** Takes the slashed share of locked and cooling stake for insurance (inside `record`'s transaction). */
  private slash(address: string, opId: string, shareBps: number): void {
    const r = this.row();
    const atRisk = (r?.stake ?? 0) + this.coolingUnstake();
    const amount = Number(slashAmount(atRisk, shareBps));
    if (amount <= 0) return;
    const fromStake = Math.min(amount, r?.stake ?? 0);
    const fromCooling = takeFromUnstaking(this.sql, amount - fromStake);
    this.sql.exec(
      `UPDATE contributor SET stake = stake - ?, unstaking = unstaking - ?, slashed = slashed + ?`,
      fromStake,
      fromCooling,
      fromStake + fromCooling,
    );
    enqueue(this.sql, `slash:${opId}`, "insurance", {
      contributor: address,
      amount: fromStake + fromCooling,
    });
  }

  /** Stake still cooling down: at risk until its cooldown ends and it is queued for payout. */
  private coolingUnstake(): number {
    return (
      one<{ t: number }>(
        this.sql,
        "SELECT COALESCE(SUM(amount), 0) AS t FROM unstakes WHERE status = 'cooling'",
      )?.t ?? 0
    );
  }

  /** Earnings at or past the threshold go into a payout (inside `record`'s transaction). */
  private queueEarnings(address: string, threshold: Micros): void {
    const r = this.row();
    const available = (r?.earned ?? 0) - (r?.paid ?? 0) - (r?.pending ?? 0);
    if (available < threshold || available <= 0) return;
    this.sql.exec("UPDATE contributor SET pending = pending + ?", available);
    this.queuePayout(address, "earnings", available as Micros);
  }

  private queuePayout(address: string, kind: "earnings" | "unstake", amount: Micros, key?: string) {
    const id = `po_${randomBase32(20)}`;
    const payTo = this.row()?.payout ?? address;
    this.sql.exec(
      "INSERT INTO payouts (id, kind, amount, address, created_at) VALUES (?, ?, ?, ?, ?)",
      id,
      kind,
      amount,
      payTo,
      Date.now(),
    );
    enqueue(this.sql, key ? `${key}:payout` : `payout:${id}`, "payout", {
      id,
      contributor: address,
      address: payTo,
      kind,
      amount,
    });
  }

  /** Records a stake operation id; false when it was already applied. */
  private firstTime(opId: string, kind: string, amount: Micros): boolean {
    return (
      this.sql.exec(
        "INSERT OR IGNORE INTO stake_ops (op_id, kind, amount, at) VALUES (?, ?, ?, ?)",
        opId,
        kind,
        amount,
        Date.now(),
      ).rowsWritten > 0
    );
  }

  private async deliver(): Promise<void> {
    const treasury = this.env.TREASURY.get(this.env.TREASURY.idFromName("treasury"));
    const address = this.row()?.address ?? "";
    const failed = await deliverOutbox(this.sql, treasury, address);
    if (failed) await this.scheduleAt(Date.now() + 30_000);
  }

  private async scheduleAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private row(): Row | undefined {
    return one<Row>(this.sql, "SELECT * FROM contributor LIMIT 1");
  }

  view(address: string): ContributorView {
    const row = this.row();
    const streak = row?.streak ?? 0;
    const unlocks = one<{ t: number | null }>(
      this.sql,
      "SELECT MIN(ready_at) AS t FROM unstakes WHERE status = 'cooling'",
    )?.t;
    return {
      address,
      trust: tierOf(streak, row?.stake ?? 0, config(this.env).stakeTier),
      record: {
        accepted: row?.accepted ?? 0,
        rejected: row?.rejected ?? 0,
        streak,
        jobs: row?.jobs ?? 0,
      },
      earnings: {
        available: ((row?.earned ?? 0) - (row?.paid ?? 0) - (row?.pending ?? 0)) as Micros,
        pending: (row?.pending ?? 0) as Micros,
        paid: (row?.paid ?? 0) as Micros,
      },
      stake: {
        locked: (row?.stake ?? 0) as Micros,
        unstaking: (row?.unstaking ?? 0) as Micros,
        slashed: (row?.slashed ?? 0) as Micros,
        paid_back: (row?.unstake_paid ?? 0) as Micros,
        unlocks_at: unlocks ? new Date(unlocks).toISOString() : null,
      },
      payouts: payoutViews(this.sql),
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
    const row = this.row();
    return tierOf(row?.streak ?? 0, row?.stake ?? 0, config(this.env).stakeTier);
  }

  private get sql() {
    return this.ctx.storage.sql;
  }
}

/**
 * The trust tier: by the streak, raised one step (`new` → `established` → `trusted`) while at
 * least `stakeTier` is staked, since a lie then costs a share of the stake.
 */
export function tierOf(streak: number, stake = 0, stakeTier = Number.POSITIVE_INFINITY): TrustTier {
  const staked = stake > 0 && stake >= stakeTier;
  if (streak >= TRUSTED_AFTER || (staked && streak >= ESTABLISHED_AFTER)) return "trusted";
  if (streak >= ESTABLISHED_AFTER || staked) return "established";
  return "new";
}
