import type { BillingStatus } from "../../protocol/metering.ts";
import type { Micros } from "../../protocol/money.ts";
import { type Config, config } from "../../workers/config.ts";
import type { Settings } from "../../workers/env.ts";
import { releaseUpload, type WriterBindings } from "../storage/writer.ts";
import type { Treasury } from "../treasury/treasury.ts";
import type { Ledger } from "./ledger.ts";
import { DAY_MS, HOUR_MS, Metering } from "./metering.ts";
import { type CapRefusal, monthOf, SpendCaps } from "./spend-caps.ts";
import type { UploadRecord, Uploads } from "./uploads.ts";

/** What the Account object reads from its environment: settings, blocks, the Treasury. */
export type AccountEnv = Settings & WriterBindings & { TREASURY: DurableObjectNamespace<Treasury> };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The Account's billing duties around its ledger and uploads (issue 7): the metering step the
 * alarm runs, the outbox it delivers, the schedule of that one alarm, spend caps, the grace
 * period and the status `GET /v1/account` shows. The Account object exposes these over RPC;
 * this class holds the logic so the object stays a list of entry points.
 */
export class AccountBilling {
  readonly metering: Metering;
  readonly caps: SpendCaps;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly env: AccountEnv,
    private readonly ledger: Ledger,
    private readonly uploads: Uploads,
  ) {
    this.metering = new Metering(storage, ledger);
    this.caps = new SpendCaps(storage.sql);
  }

  private get config(): Config {
    return config(this.env);
  }

  private get prices() {
    return { storage: this.config.storagePrice, egress: this.config.egressPrice };
  }

  private get graceMs(): number {
    return this.config.storageGraceDays * DAY_MS;
  }

  /** Low-balance warning, runway at the current storage rate, what is owed, the grace period. */
  status(): BillingStatus {
    const { available } = this.ledger.balance();
    const stored = this.metering.storedBytes();
    const perDay = Metering.storageCostPerDay(stored, this.config.storagePrice);
    const state = this.metering.state();
    const owed = this.metering.owed();
    const threshold = this.config.lowBalance;
    return {
      low_balance: available < threshold || owed > 0,
      low_balance_threshold: threshold,
      owed,
      stored_bytes: stored,
      storage_cost_per_day: perDay,
      runway_days: stored === 0 || perDay === 0 ? null : available / perDay,
      grace_until: iso(state.grace_until),
      released:
        state.released_at === null
          ? null
          : { at: new Date(state.released_at).toISOString(), uploads: state.released_uploads },
    };
  }

  /** An upload as the API shows it: with the account's grace period, if one runs. */
  withGrace(upload: UploadRecord): UploadRecord {
    return { ...upload, grace_until: iso(this.metering.state().grace_until) };
  }

  /** Whether `amount` more this month fits under the account's and the key's caps. */
  checkSpend(now: number, keyId: string | null, amount: Micros): CapRefusal | undefined {
    return this.caps.check(now, keyId, amount);
  }

  /** Whether storing `bytes` more until the month ends fits under the caps. */
  checkUpload(now: number, keyId: string | null, bytes: number): CapRefusal | undefined {
    const cost = Metering.storageCost(bytes, monthOf(now).end - now, this.config.storagePrice);
    return this.caps.check(now, keyId, cost);
  }

  /** After a credit, in its transaction: pay what is owed; nothing owed ends the grace period. */
  afterCredit(now: number): void {
    this.metering.collect(now, this.prices);
    this.metering.updateGrace(now, this.graceMs);
  }

  /** One response's egress, in the transaction that recorded its event. */
  chargeEgress(keyId: string | null, bytes: number, now: number): void {
    this.metering.accrueEgress(keyId, bytes, this.prices.egress, now);
    this.metering.collect(now, this.prices);
    this.metering.updateGrace(now, this.graceMs);
  }

  /**
   * One metering step at `now`, in one transaction: storage held since the last step, what is
   * due debited if the balance covers it, the grace period started or ended, and past its end
   * every upload released.
   */
  step(now: number): void {
    this.storage.transactionSync(() => {
      this.metering.accrueStorage(now, this.config.storagePrice);
      this.metering.collect(now, this.prices);
      const state = this.metering.updateGrace(now, this.graceMs);
      if (state.grace_until !== null && now >= state.grace_until) this.releaseAll(now);
    });
  }

  /**
   * Ends the grace period: every upload leaves through the removal path (a `storage.removed`
   * event each; their blocks are given back by the outbox) and `billing.released` says when and
   * how many. Call inside a transaction.
   */
  private releaseAll(now: number): void {
    const cids = this.uploads.allCids();
    for (const cid of cids) {
      const removed = this.uploads.remove(cid, now);
      if (!removed) continue;
      this.storage.sql.exec(
        "INSERT OR IGNORE INTO outbox (op_id, kind, ref, next_at) VALUES (?, 'release', ?, ?)",
        `release:${removed.upload_id}`,
        removed.upload_id,
        Date.now(),
      );
    }
    this.storage.sql.exec(
      "UPDATE metering SET grace_until = NULL, released_at = ?, released_uploads = released_uploads + ? WHERE id = 1",
      now,
      cids.length,
    );
  }

  /** Delivers the outbox rows due at `now`; a failure is retried later with a back-off. */
  async deliver(now: number, accountId: string): Promise<number> {
    let delivered = 0;
    for (const row of this.metering.pending(now)) {
      try {
        if (row.kind === "revenue") {
          const treasury = this.env.TREASURY.get(this.env.TREASURY.idFromName("treasury"));
          await treasury.creditRevenue(
            row.op_id,
            row.meter ?? "",
            accountId,
            (row.amount ?? 0) as Micros,
          );
        } else if (row.ref) {
          await releaseUpload(this.env, row.ref);
        }
        this.metering.delivered(row.op_id);
        delivered++;
      } catch (err) {
        console.error(`account outbox ${row.op_id}: ${err}`);
        this.metering.failed(row.op_id, row.attempts, now);
      }
    }
    return delivered;
  }

  /**
   * One alarm drives the schedule: the earliest of an outbox delivery, the next hourly storage
   * charge (while anything is stored or owed) and the end of a grace period.
   */
  async schedule(now: number): Promise<void> {
    const times: number[] = [];
    const outbox = this.metering.nextOutboxAt();
    if (outbox !== null) times.push(outbox);
    const state = this.metering.state();
    if (this.metering.storedBytes() > 0 || this.metering.owed() > 0) {
      times.push(Math.max(state.storage_until ?? now, now) + HOUR_MS);
    }
    if (state.grace_until !== null) times.push(state.grace_until);
    if (times.length === 0) return;
    const next = Math.min(...times);
    const current = await this.storage.getAlarm();
    if (current === null || current > next) await this.storage.setAlarm(next);
  }
}
