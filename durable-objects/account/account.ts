import { DurableObject } from "cloudflare:workers";
import type { AccountView, ApiKeyInfo, Scope } from "../../protocol/accounts.ts";
import type { AccountId } from "../../protocol/ids.ts";
import type { Micros } from "../../protocol/money.ts";
import { migrate, one, pageNewestFirst } from "../sql.ts";
import { type BeginOutcome, IdempotencyRecords, type StoredResponse } from "./idempotency.ts";
import { Keys, type Principal } from "./keys.ts";
import { Ledger, type LedgerResult } from "./ledger.ts";
import { RateLimiter, type RatePolicy, type RateState } from "./rate-limit.ts";
import { ACCOUNT_MIGRATIONS } from "./schema.ts";
import { type RecordOutcome, type UploadRecord, Uploads } from "./uploads.ts";

export type { Principal } from "./keys.ts";
export type { LedgerErrorCode, LedgerResult } from "./ledger.ts";
export type { RateState } from "./rate-limit.ts";
export type { RecordOutcome, SessionView, UploadKind, UploadRecord } from "./uploads.ts";

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
export class Account extends DurableObject {
  private readonly ledger: Ledger;
  private readonly keys: Keys;
  private readonly idempotency: IdempotencyRecords;
  private readonly limiter = new RateLimiter();
  private readonly uploads: Uploads;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, ACCOUNT_MIGRATIONS));
    this.ledger = new Ledger(ctx.storage);
    this.keys = new Keys(ctx.storage.sql);
    this.idempotency = new IdempotencyRecords(ctx.storage.sql);
    this.uploads = new Uploads(ctx.storage);
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
    };
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

  // --- money --------------------------------------------------------------------------------

  balance() {
    return this.ledger.balance();
  }

  credit(opId: string, amount: Micros, memo?: string): LedgerResult {
    return this.ledger.credit(opId, amount, memo);
  }

  debit(opId: string, amount: Micros, memo?: string): LedgerResult {
    return this.ledger.debit(opId, amount, memo);
  }

  hold(holdId: string, amount: Micros, memo?: string): LedgerResult {
    return this.ledger.hold(holdId, amount, memo);
  }

  capture(holdId: string, amount: Micros, opId: string, memo?: string): LedgerResult {
    return this.ledger.capture(holdId, amount, opId, memo);
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

  recordUpload(upload: Omit<UploadRecord, "created_at">, quota: number): RecordOutcome {
    return this.uploads.record(upload, quota);
  }

  getUpload(cid: string): UploadRecord | undefined {
    return this.uploads.get(cid);
  }

  listUploads(limit: number, before?: number) {
    return this.uploads.list(limit, before);
  }

  removeUpload(cid: string): UploadRecord | undefined {
    return this.uploads.remove(cid);
  }

  recordUsage(id: string, kind: "gateway.served", bytes: number, cid: string | null): void {
    this.uploads.usage(id, kind, bytes, cid);
  }

  usageEvents() {
    return this.uploads.usageEvents();
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

  completeUploadSession(id: string, upload: Omit<UploadRecord, "created_at">, quota: number) {
    return this.uploads.completeSession(id, upload, quota);
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
