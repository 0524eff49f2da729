import { DurableObject } from "cloudflare:workers";
import type { AccountView, ApiKeyInfo, Scope } from "../../protocol/accounts.ts";
import type { AccountId } from "../../protocol/ids.ts";
import type { BillingStatus, Invoice, InvoiceSummary, SpendCap } from "../../protocol/metering.ts";
import type { Micros } from "../../protocol/money.ts";
import { migrate, one, pageNewestFirst } from "../sql.ts";
import { AccountBilling, type AccountEnv } from "./billing.ts";
import { type BeginOutcome, IdempotencyRecords, type StoredResponse } from "./idempotency.ts";
import { invoice, invoiceList } from "./invoices.ts";
import { Keys, type Principal } from "./keys.ts";
import { Ledger, type LedgerResult } from "./ledger.ts";
import { AccountPins, type PinFilter, type PinRow } from "./pins.ts";
import { RateLimiter, type RatePolicy, type RateState } from "./rate-limit.ts";
import { ACCOUNT_MIGRATIONS } from "./schema.ts";
import { type CapRefusal, monthOf } from "./spend-caps.ts";
import { type NewUpload, type RecordOutcome, type UploadRecord, Uploads } from "./uploads.ts";
import { type UsageQuery, usageReport } from "./usage.ts";

export type { AccountEnv } from "./billing.ts";
export type { Principal } from "./keys.ts";
export type { LedgerErrorCode, LedgerResult } from "./ledger.ts";
export type { PinFilter, PinRow, PinState } from "./pins.ts";
export type { RateState } from "./rate-limit.ts";
export type {
  NewUpload,
  RecordOutcome,
  SessionView,
  UploadKind,
  UploadRecord,
} from "./uploads.ts";

/** An upload as the API shows it: with the grace period its account's storage is in, if any. */
export type UploadView = UploadRecord;

export type HoldOutcome = LedgerResult | CapRefusal;

export type AuthOutcome =
  | { ok: true; principal: Principal; rate: RateState }
  | { ok: false; reason: "unauthenticated" };

export type OpenOutcome =
  | { ok: true; api_key: string; key: ApiKeyInfo }
  | { ok: false; reason: "exists" };

interface AccountRow extends Record<string, SqlStorageValue> {
  id: string;
  name: string | null;
  email: string | null;
  created_at: number;
}

const ALL_SCOPES: Scope[] = ["jobs", "storage", "billing", "admin"];

/**
 * One customer account: its API keys (hashed), its money (journal, balances, holds), its stored
 * idempotent responses and its rate-limit counters. Addressed by name: `idFromName(accountId)`.
 *
 * Methods are called over Workers RPC. Expected failures (no funds, unknown hold) come back as
 * values, not exceptions, so the caller can map them to problem documents without string matching.
 */
export class Account extends DurableObject<AccountEnv> {
  private readonly ledger: Ledger;
  private readonly keys: Keys;
  private readonly idempotency: IdempotencyRecords;
  private readonly limiter = new RateLimiter();
  private readonly uploads: Uploads;
  private readonly billing: AccountBilling;
  private readonly pins: AccountPins;

  constructor(ctx: DurableObjectState, env: AccountEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, ACCOUNT_MIGRATIONS));
    this.ledger = new Ledger(ctx.storage);
    this.keys = new Keys(ctx.storage.sql);
    this.idempotency = new IdempotencyRecords(ctx.storage.sql);
    this.uploads = new Uploads(ctx.storage);
    this.billing = new AccountBilling(ctx.storage, env, this.ledger, this.uploads);
    this.pins = new AccountPins(ctx.storage);
  }

  /**
   * Creates the account with a first key holding every scope, and credits the trial amount.
   * Runs once per account: a second call answers `exists` and changes nothing.
   */
  async open(input: {
    accountId: AccountId;
    name?: string | undefined;
    email?: string | undefined;
    trialCredit: Micros;
  }): Promise<OpenOutcome> {
    if (this.row()) return { ok: false, reason: "exists" };
    const minted = await this.keys.mint(input.accountId, ALL_SCOPES, "default");
    return this.ctx.storage.transactionSync(() => {
      // Re-check inside the transaction: another call may have opened it during the await.
      if (this.row()) return { ok: false, reason: "exists" } as const;
      this.ctx.storage.sql.exec(
        "INSERT INTO account (id, name, email, created_at) VALUES (?, ?, ?, ?)",
        input.accountId,
        input.name ?? null,
        input.email ?? null,
        Date.now(),
      );
      if (input.trialCredit > 0) {
        this.ledger.credit("trial-credit", input.trialCredit, "trial credit");
      }
      const { api_key, ...key } = this.keys.insert(minted);
      return { ok: true, api_key, key } as const;
    });
  }

  /** Checks a presented key and counts the request against the key's rate limit. */
  async authenticate(apiKey: string, policy: RatePolicy): Promise<AuthOutcome> {
    const account = this.row();
    if (!account) return { ok: false, reason: "unauthenticated" };
    const principal = await this.keys.authenticate(account.id as AccountId, apiKey);
    if (!principal) return { ok: false, reason: "unauthenticated" };
    return { ok: true, principal, rate: this.limiter.take(principal.keyId, policy) };
  }

  /**
   * For a gateway read carrying `apiKey`: a refusal when the key's or the account's monthly cap is
   * already reached (egress would pass it), otherwise `undefined`, also for a key that does not
   * authenticate (the read is then anonymous and billed to no one).
   */
  async readRefusal(apiKey: string): Promise<CapRefusal | undefined> {
    const account = this.row();
    if (!account) return undefined;
    const principal = await this.keys.authenticate(account.id as AccountId, apiKey);
    if (!principal) return undefined;
    return this.billing.checkSpend(Date.now(), principal.keyId, 0 as Micros);
  }

  /** Whether `apiKey` is a live key of this account, without counting a request. */
  async identify(apiKey: string): Promise<boolean> {
    const account = this.row();
    return (
      account !== undefined &&
      (await this.keys.authenticate(account.id as AccountId, apiKey)) !== undefined
    );
  }

  view(): AccountView | undefined {
    const row = this.row();
    if (!row) return undefined;
    const { available, held } = this.ledger.balance();
    return {
      account_id: row.id,
      name: row.name,
      email: row.email,
      created_at: new Date(row.created_at).toISOString(),
      balance: { currency: "USDC", decimals: 6, available, held },
      billing: this.billingStatus(),
    };
  }

  /** Low-balance warning, runway at the current storage rate, what is owed, the grace period. */
  billingStatus(): BillingStatus {
    return this.billing.status();
  }

  // --- keys ---------------------------------------------------------------------------------

  async createKey(scopes: Scope[], name?: string): Promise<ApiKeyInfo & { api_key: string }> {
    const row = this.row();
    if (!row) throw new Error("account does not exist");
    return this.keys.insert(await this.keys.mint(row.id as AccountId, scopes, name));
  }

  listKeys(): ApiKeyInfo[] {
    return this.keys.list();
  }

  revokeKey(keyId: string): ApiKeyInfo | undefined {
    return this.keys.revoke(keyId);
  }

  // --- spend caps ---------------------------------------------------------------------------

  /** Sets (or with `null` removes) a monthly cap on the account or on one of its keys. */
  setSpendCap(
    scope: "account" | string,
    limit: Micros | null,
    now = Date.now(),
  ): SpendCap | undefined {
    if (scope !== "account" && !this.keys.get(scope)) return undefined;
    this.billing.caps.set(scope, limit);
    return this.spendCap(scope, now);
  }

  spendCap(scope: "account" | string, now = Date.now()): SpendCap | undefined {
    if (scope !== "account" && !this.keys.get(scope)) return undefined;
    return { scope, period: monthOf(now).period, ...this.billing.caps.view(scope, now) };
  }

  /**
   * Whether a new upload of `bytes` fits under the caps: storing it until the month ends must
   * not take the account or the key past its cap (a cap already reached refuses any upload).
   */
  checkUploadSpend(keyId: string | null, bytes: number, now = Date.now()): CapRefusal | undefined {
    return this.billing.checkUpload(now, keyId, bytes);
  }

  // --- money --------------------------------------------------------------------------------

  balance() {
    return this.ledger.balance();
  }

  /**
   * Credits the balance (deposits, grants). A new credit first pays what metered usage is owed;
   * once nothing is owed the storage grace period ends.
   */
  async credit(opId: string, amount: Micros, memo?: string): Promise<LedgerResult> {
    const result = this.ctx.storage.transactionSync(() => {
      const r = this.ledger.credit(opId, amount, memo);
      if (r.ok && !r.replayed && this.row()) {
        const now = Date.now();
        this.billing.afterCredit(now);
        return { ...r, balance: this.ledger.balance() };
      }
      return r;
    });
    await this.billing.schedule(Date.now());
    return result;
  }

  debit(opId: string, amount: Micros, memo?: string): LedgerResult {
    return this.ledger.debit(opId, amount, memo);
  }

  /**
   * Holds `amount` for work in progress. With the key that asked, the hold counts against that
   * key's spend cap as well as the account's; past either cap it is refused and nothing changes.
   * A replay of an existing hold is never refused by a cap.
   */
  hold(holdId: string, amount: Micros, memo?: string, keyId?: string): HoldOutcome {
    return this.ctx.storage.transactionSync((): HoldOutcome => {
      const exists = one(this.ctx.storage.sql, "SELECT 1 AS x FROM holds WHERE id = ?", holdId);
      if (!exists) {
        const refused = this.billing.checkSpend(Date.now(), keyId ?? null, amount);
        if (refused) return refused;
      }
      const r = this.ledger.hold(holdId, amount, memo);
      if (r.ok && !r.replayed && keyId) {
        this.ctx.storage.sql.exec("UPDATE holds SET key_id = ? WHERE id = ?", keyId, holdId);
      }
      return r;
    });
  }

  /**
   * Spends part of a hold (a job's settlement). A capture is compute usage: it is recorded as a
   * `compute` charge and usage event, attributed to the key that placed the hold.
   */
  capture(holdId: string, amount: Micros, opId: string, memo?: string): LedgerResult {
    return this.ctx.storage.transactionSync(() => {
      const r = this.ledger.capture(holdId, amount, opId, memo);
      if (r.ok && !r.replayed && amount > 0) {
        const keyId =
          one<{ key_id: string | null }>(
            this.ctx.storage.sql,
            "SELECT key_id FROM holds WHERE id = ?",
            holdId,
          )?.key_id ?? null;
        this.billing.metering.recordCompute(opId, holdId, keyId, amount, Date.now());
      }
      return r;
    });
  }

  release(holdId: string, opId: string, memo?: string): LedgerResult<{ released: Micros }> {
    return this.ledger.release(holdId, opId, memo);
  }

  journal(afterSeq?: number, limit?: number) {
    return this.ledger.journal(afterSeq, limit);
  }

  // --- storage ------------------------------------------------------------------------------

  storageUsed(): number {
    return this.uploads.used();
  }

  /** Records a finished upload (see `Uploads.record`), attributed to `keyId` when given. */
  async recordUpload(upload: NewUpload, quota: number, keyId?: string): Promise<RecordOutcome> {
    const outcome = this.uploads.record(upload, quota, keyId ?? null);
    if (outcome.ok && outcome.created) await this.billing.schedule(Date.now());
    return outcome.ok ? { ...outcome, upload: this.billing.withGrace(outcome.upload) } : outcome;
  }

  getUpload(cid: string): UploadView | undefined {
    const upload = this.uploads.get(cid);
    return upload && this.billing.withGrace(upload);
  }

  listUploads(limit: number, before?: number) {
    const page = this.uploads.list(limit, before);
    return { ...page, data: page.data.map((u) => this.billing.withGrace(u)) };
  }

  removeUpload(cid: string): UploadRecord | undefined {
    const removed = this.uploads.remove(cid);
    return removed && this.billing.withGrace(removed);
  }

  /**
   * Records bytes the gateway served (idempotent by `id`) and, on a customer account, charges
   * them as egress at once; the fraction of a base unit is carried to the next response.
   */
  async recordUsage(
    id: string,
    kind: "gateway.served",
    bytes: number,
    cid: string | null,
    keyId?: string,
  ): Promise<void> {
    const charged = this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const fresh = this.uploads.usage(id, kind, bytes, cid, keyId ?? null, now);
      if (!fresh || !this.row()) return false;
      this.billing.chargeEgress(keyId ?? null, bytes, now);
      return true;
    });
    if (charged) await this.billing.schedule(Date.now());
  }

  usageEvents() {
    return this.uploads.usageEvents();
  }

  /** Usage of one meter in hourly or daily windows (see `usage.ts`). */
  usage(query: UsageQuery) {
    return usageReport(this.ctx.storage.sql, query);
  }

  /** The statement of one calendar month, e.g. `2026-11`. */
  invoice(period: string, now = Date.now()): Invoice {
    return invoice(this.ctx.storage.sql, period, now);
  }

  invoices(now = Date.now()): InvoiceSummary[] {
    return invoiceList(this.ctx.storage.sql, now);
  }

  openUploadSession(id: string, name: string | null) {
    return this.uploads.openSession(id, name);
  }

  uploadSession(id: string) {
    return this.uploads.session(id);
  }

  recordUploadPart(id: string, n: number, size: number, quota: number) {
    return this.uploads.recordPart(id, n, size, quota);
  }

  abortUploadSession(id: string): void {
    this.uploads.closeSession(id, "aborted", null);
  }

  async completeUploadSession(id: string, upload: NewUpload, quota: number, keyId?: string) {
    const outcome = this.uploads.completeSession(id, upload, quota, keyId ?? null);
    if (outcome.ok && outcome.created) await this.billing.schedule(Date.now());
    return outcome.ok ? { ...outcome, upload: this.billing.withGrace(outcome.upload) } : outcome;
  }

  // --- metering -----------------------------------------------------------------------------

  /**
   * One metering step at `now` (the alarm passes the clock; tests pass a time): charges storage
   * held since the last step, debits what is due if the balance covers it, starts or ends the
   * grace period, and past its end releases every upload (each through the removal path: a
   * `storage.removed` event, and its blocks given back by the outbox). Returns the status after.
   */
  async meter(now = Date.now()): Promise<BillingStatus> {
    if (this.row()) {
      this.billing.step(now);
      await this.billing.schedule(now);
    }
    return this.billing.status();
  }

  /** Delivers the outbox rows due at `now`; a failure is retried later with a back-off. */
  async deliver(now = Date.now()): Promise<number> {
    return this.billing.deliver(now, this.row()?.id ?? "");
  }

  /**
   * Storage and egress debited from this account whose credit to the Treasury is still in the
   * outbox: for the books, this is platform revenue in transit (Σ balances + holds + in transit
   * + Treasury revenue + … = deposits + credits at any instant).
   */
  revenueInTransit(): Micros {
    return this.billing.metering.undeliveredRevenue();
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.row()) this.billing.step(now);
    await this.deliver(now);
    await this.billing.schedule(now);
  }

  // --- jobs ---------------------------------------------------------------------------------

  /** Files a job under the account (idempotent). */
  recordJob(id: string, kind: string): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO jobs (id, kind, created_at) VALUES (?, ?, ?)",
      id,
      kind,
      Date.now(),
    );
  }

  hasJob(id: string): boolean {
    return one(this.ctx.storage.sql, "SELECT 1 AS x FROM jobs WHERE id = ?", id) !== undefined;
  }

  /** Job ids, newest first; `before` is the cursor from the previous page. */
  listJobs(limit: number, before?: number): { ids: string[]; next_cursor: string | null } {
    const page = pageNewestFirst<{ seq: number; id: string }>(
      this.ctx.storage.sql,
      "jobs",
      limit,
      before,
    );
    return { ids: page.rows.map((r) => r.id), next_cursor: page.next_cursor };
  }

  // --- pins (Pinning Service API; the index of this account's `Pin` objects) ----------------

  /** A `Pin` object reports its state; older versions than the stored one change nothing. */
  putPin(row: PinRow): void {
    this.pins.put(row);
  }

  listPins(filter: PinFilter): { count: number; rows: PinRow[] } {
    return this.pins.list(filter);
  }

  /** Files an upload a pin created, so that the last unpin of its CID removes it. */
  markPinnedUpload(uploadId: string, cid: string): void {
    this.pins.markPinned(uploadId, cid);
  }

  /**
   * Forgets a pin; when it was the last pin of a CID whose upload a pin created, removes that
   * upload (ending its storage charge) and answers its upload id, whose blocks the caller releases.
   */
  dropPin(requestid: string, uploadCid: string): string | undefined {
    const cid = this.pins.drop(requestid, uploadCid);
    return cid ? this.removeUpload(cid)?.upload_id : undefined;
  }

  // --- idempotency --------------------------------------------------------------------------

  idempotencyBegin(key: string, fingerprint: string): BeginOutcome {
    return this.idempotency.begin(key, fingerprint);
  }

  idempotencyComplete(key: string, fingerprint: string, response: StoredResponse): void {
    this.idempotency.complete(key, fingerprint, response);
  }

  idempotencyAbandon(key: string, fingerprint: string): void {
    this.idempotency.abandon(key, fingerprint);
  }

  private row(): AccountRow | undefined {
    return one<AccountRow>(this.ctx.storage.sql, "SELECT * FROM account LIMIT 1");
  }
}
