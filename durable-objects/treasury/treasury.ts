import { DurableObject } from "cloudflare:workers";
import { address, type KeyPairSigner } from "@solana/kit";
import {
  createTreasuryRpc,
  PayoutError,
  type TreasuryRpc,
  treasuryBalance,
  treasurySigner,
} from "../../contracts/index.ts";
import { SETTLEMENT_NOT_CONFIGURED } from "../../protocol/billing.ts";
import type { Micros } from "../../protocol/money.ts";
import { config, type SolanaSettings } from "../../workers/config.ts";
import type { Env } from "../../workers/env.ts";
import { migrate, one } from "../sql.ts";
import {
  createIntent,
  type IntentKind,
  type IntentView,
  intentRow,
  intentView,
  lookForPayment,
  pendingIntents,
  settleIntent,
} from "./intents.ts";
import { computeLedger, type LedgerProof } from "./ledger.ts";
import {
  hasPayoutWork,
  markBatchPaid,
  openBatches,
  payOpenBatch,
  planBatches,
  type QueuedPayout,
  queuePayout,
} from "./payouts.ts";
import { TREASURY_MIGRATIONS } from "./schema.ts";

export type { IntentView } from "./intents.ts";
export type { LedgerProof } from "./ledger.ts";
export type { QueuedPayout } from "./payouts.ts";

export type IntentOutcome =
  | { ok: true; intent: IntentView; recipient: string; mint: string }
  | { ok: false; code: "billing_not_configured"; detail: string };

/**
 * The platform's books and its wallet on Solana (one object, named `treasury`).
 *
 * - Fees (each job's settlement, `job:<id>:fee`) and metered revenue (storage, egress, keyed by
 *   the account's journal op id), idempotent by op id.
 * - Deposit and stake intents (`intents.ts`): the alarm polls the RPC for their payments and
 *   credits each once, through the outbox, to the customer's `Account` or the `Contributor`.
 * - Payouts (`payouts.ts`): queued by Contributors, paid by the alarm in memo-tagged batches that
 *   are never paid twice; the landing is reported back through the outbox.
 * - Insurance: stake slashed from contributors caught cheating.
 * - The registry of accounts and contributors, and the ledger proof over all of it (`ledger.ts`).
 *
 * One alarm drives all of it, every `SETTLEMENT_POLL_SECONDS` while anything is open.
 */
export class Treasury extends DurableObject<Env> {
  private signer: Promise<KeyPairSigner> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, TREASURY_MIGRATIONS));
  }

  /** Credits a job's platform fee; the same `opId` again changes nothing. */
  creditFee(opId: string, jobId: string, amount: Micros): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO fees (op_id, job_id, amount, at) VALUES (?, ?, ?, ?)",
      opId,
      jobId,
      amount,
      Date.now(),
    );
  }

  /** Credits a metered charge (storage, egress) debited from an account; idempotent by `opId`. */
  creditRevenue(opId: string, meter: string, account: string, amount: Micros): void {
    // An account's op ids are its own (every account has a `charge:storage:1`), so the row is
    // keyed by account and op id; rows written before that carry the bare op id and still count
    // as the same charge when it is delivered again.
    const key = `${account}/${opId}`;
    const seen = one(
      this.sql,
      "SELECT 1 AS x FROM revenue WHERE op_id = ? OR (op_id = ? AND account = ?)",
      key,
      opId,
      account,
    );
    if (seen) return;
    this.sql.exec(
      "INSERT OR IGNORE INTO revenue (op_id, meter, account, amount, at) VALUES (?, ?, ?, ?, ?)",
      key,
      meter,
      account,
      amount,
      Date.now(),
    );
  }

  /**
   * Pays a storage provider for a proven period out of metered revenue not yet paid to providers
   * (never more): recorded with an outbox credit of its `Contributor` earnings in one
   * transaction. Idempotent by `opId`; returns what was paid (0 when revenue covered nothing).
   */
  async payProvider(opId: string, provider: string, pin: string, owed: Micros): Promise<Micros> {
    const paid = this.ctx.storage.transactionSync(() => {
      const done = one<{ amount: number }>(
        this.sql,
        "SELECT amount FROM provider_pay WHERE op_id = ?",
        opId,
      );
      if (done) return done.amount;
      const unallocated =
        this.revenue() - this.total("SELECT COALESCE(SUM(amount), 0) AS total FROM provider_pay");
      const amount = Math.max(0, Math.min(owed, unallocated));
      this.sql.exec(
        "INSERT INTO provider_pay (op_id, provider, pin, owed, amount, at) VALUES (?, ?, ?, ?, ?, ?)",
        opId,
        provider,
        pin,
        owed,
        amount,
        Date.now(),
      );
      if (amount > 0) {
        this.enqueue(opId, "contributor", provider, "earn", amount as Micros, { pin });
      }
      return amount;
    });
    if (paid > 0) await this.deliver();
    return paid as Micros;
  }

  /** A storage provider's proven periods: what they earned (`owed`) and what revenue paid. */
  providerPay(provider: string): { periods: number; owed: Micros; paid: Micros } {
    const r = one<{ n: number; owed: number; paid: number }>(
      this.sql,
      `SELECT COUNT(*) AS n, COALESCE(SUM(owed), 0) AS owed, COALESCE(SUM(amount), 0) AS paid
       FROM provider_pay WHERE provider = ?`,
      provider,
    );
    return { periods: r?.n ?? 0, owed: (r?.owed ?? 0) as Micros, paid: (r?.paid ?? 0) as Micros };
  }

  /** Every metered charge credited so far. */
  revenue(): Micros {
    return this.total("SELECT COALESCE(SUM(amount), 0) AS total FROM revenue");
  }

  /** The fee credited for one job (0 if none yet). */
  feeFor(jobId: string): Micros {
    return this.total("SELECT COALESCE(SUM(amount), 0) AS total FROM fees WHERE job_id = ?", jobId);
  }

  /** Every fee credited so far. */
  fees(): Micros {
    return this.total("SELECT COALESCE(SUM(amount), 0) AS total FROM fees");
  }

  /** Files an account for the ledger proof (at signup, before the account opens); idempotent. */
  registerAccount(accountId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO accounts (id, at) VALUES (?, ?)", accountId, Date.now());
  }

  /** Files a contributor for the ledger proof (first earning or stake); idempotent. */
  registerContributor(address: string): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO contributors (address, at) VALUES (?, ?)",
      address,
      Date.now(),
    );
  }

  /** Slashed stake, moved to the platform's insurance; idempotent by `opId`. */
  creditInsurance(opId: string, contributor: string, amount: Micros): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO insurance (op_id, contributor, amount, at) VALUES (?, ?, ?, ?)",
      opId,
      contributor,
      amount,
      Date.now(),
    );
  }

  /**
   * A deposit (to an account) or stake (to a contributor) request: a Solana Pay URL with a fresh
   * reference, watched from now until `DEPOSIT_TTL` has passed. Idempotent by `id`.
   */
  async createIntent(input: {
    id: string;
    kind: IntentKind;
    owner: string;
    amount: Micros;
  }): Promise<IntentOutcome> {
    const solana = this.solana();
    if (!solana)
      return { ok: false, code: "billing_not_configured", detail: SETTLEMENT_NOT_CONFIGURED };
    const treasury = (await this.treasurySigner(solana)).address;
    const settings = config(this.env);
    const row = createIntent(
      this.sql,
      {
        ...input,
        ttlMs: settings.depositTtlMs,
        treasury,
        mint: address(solana.mint),
      },
      Date.now(),
    );
    await this.schedule(settings.settlementPollMs);
    return { ok: true, intent: intentView(row), recipient: treasury, mint: solana.mint };
  }

  intent(id: string): IntentView | undefined {
    const row = intentRow(this.sql, id);
    return row ? intentView(row) : undefined;
  }

  /**
   * A Contributor's payout to send in the next batch; idempotent by payout id. Paid at the next
   * poll rather than at once, so payouts queued meanwhile share a transaction.
   */
  async queuePayout(payout: QueuedPayout): Promise<void> {
    queuePayout(this.sql, payout, Date.now());
    this.registerContributor(payout.contributor);
    await this.schedule(config(this.env).settlementPollMs);
  }

  /** The books, proved: see `ledger.ts`. Delivers the outbox first so nothing is in flight. */
  async ledger(): Promise<LedgerProof> {
    await this.deliver();
    const solana = this.solana();
    let onChain: { balance: bigint | null } | null = null;
    if (solana) {
      const treasury = (await this.treasurySigner(solana)).address;
      // The books stand without the chain: an RPC that does not answer leaves the balance null.
      const balance = await treasuryBalance(this.rpc(solana), treasury, address(solana.mint)).catch(
        (e) => {
          console.error("treasury: ledger: on-chain balance:", e);
          return null;
        },
      );
      onChain = { balance };
    }
    return computeLedger(this.sql, this.env, onChain);
  }

  /**
   * The watcher: delivers the outbox, looks for the payments of open intents, pays open and
   * queued payout batches, delivers again, and comes back while any of that is unfinished. One
   * failing step is recorded (`last_error`, logged) and retried; it does not stop the others.
   */
  override async alarm(): Promise<void> {
    const solana = this.solana();
    await this.deliver();
    if (solana) {
      await this.watchIntents(solana).catch((e) => console.error("treasury: intents:", e));
      await this.payBatches(solana).catch((e) => console.error("treasury: payouts:", e));
      await this.deliver();
    }
    const open =
      pendingIntents(this.sql, 1).length > 0 ||
      (solana !== null && hasPayoutWork(this.sql)) ||
      one(this.sql, "SELECT 1 AS x FROM outbox WHERE delivered_at IS NULL LIMIT 1") !== undefined;
    if (open) await this.schedule(config(this.env).settlementPollMs);
  }

  private async watchIntents(solana: SolanaSettings): Promise<void> {
    const rpc = this.rpc(solana);
    const chain = {
      treasury: (await this.treasurySigner(solana)).address,
      mint: address(solana.mint),
    };
    for (const row of pendingIntents(this.sql)) {
      const check = await lookForPayment(this.sql, rpc, row, chain);
      const now = Date.now();
      this.ctx.storage.transactionSync(() => {
        const credit = settleIntent(this.sql, row, check, now);
        if (!credit) return;
        if (row.kind === "deposit") {
          this.enqueue(`deposit:${row.id}`, "account", row.owner, "credit", credit.amount, {
            memo: `deposit ${row.id}`,
          });
        } else {
          // Registered once stake arrives, not when asked for: anyone may ask.
          this.registerContributor(row.owner);
          this.enqueue(`stake:${row.id}`, "contributor", row.owner, "stake", credit.amount, {});
        }
      });
    }
  }

  private async payBatches(solana: SolanaSettings): Promise<void> {
    if (!hasPayoutWork(this.sql)) return;
    const rpc = this.rpc(solana);
    const signer = await this.treasurySigner(solana);
    const mint = address(solana.mint);
    await planBatches(this.ctx.storage, signer, mint, Date.now());
    for (const batchId of openBatches(this.sql)) {
      try {
        const { result, payouts } = await payOpenBatch(
          this.ctx.storage,
          rpc,
          signer,
          mint,
          batchId,
          { timeoutMs: 20_000, pollIntervalMs: 1_000 },
        );
        this.ctx.storage.transactionSync(() => {
          markBatchPaid(this.sql, batchId, result, Date.now());
          for (const p of payouts) {
            this.enqueue(`payout:${p.id}:paid`, "contributor", p.contributor, "paid", p.amount, {
              payout_id: p.id,
              signature: result.signature,
            });
          }
        });
      } catch (e) {
        const detail = e instanceof PayoutError ? `${e.code}: ${e.message}` : String(e);
        this.sql.exec("UPDATE batches SET last_error = ? WHERE id = ?", detail, batchId);
        console.error(`treasury: batch ${batchId}:`, detail);
      }
    }
  }

  private enqueue(
    opId: string,
    target: "account" | "contributor",
    name: string,
    action: string,
    amount: Micros,
    args: Record<string, string>,
  ): void {
    this.sql.exec(
      `INSERT OR IGNORE INTO outbox (op_id, target, name, action, amount, args, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      opId,
      target,
      name,
      action,
      amount,
      JSON.stringify(args),
      Date.now(),
    );
  }

  /** Delivers undelivered outbox rows in order; a failing target is retried by the alarm. */
  private async deliver(): Promise<void> {
    const rows = this.sql
      .exec<{
        op_id: string;
        target: string;
        name: string;
        action: string;
        amount: number;
        args: string;
      }>("SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY created_at, op_id")
      .toArray();
    for (const row of rows) {
      try {
        const args = JSON.parse(row.args) as Record<string, string>;
        const amount = row.amount as Micros;
        if (row.target === "account") {
          const account = this.env.ACCOUNT.get(this.env.ACCOUNT.idFromName(row.name));
          const result = await account.credit(row.op_id, amount, args.memo);
          if (!result.ok) throw new Error(`${result.code}: ${result.detail}`);
        } else {
          const contributor = this.env.CONTRIBUTOR.get(this.env.CONTRIBUTOR.idFromName(row.name));
          if (row.action === "stake") await contributor.creditStake(row.name, row.op_id, amount);
          else if (row.action === "earn") {
            // A storage provider's proven period: earnings like a job's, by the same op id.
            await contributor.record(row.name, row.op_id, {
              jobId: `pin:${args.pin ?? ""}`,
              earned: amount,
              accepted: 0,
              rejected: 0,
            });
          } else await contributor.payoutPaid(row.name, args.payout_id ?? "", args.signature ?? "");
        }
        this.sql.exec("UPDATE outbox SET delivered_at = ? WHERE op_id = ?", Date.now(), row.op_id);
      } catch (e) {
        this.sql.exec(
          "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE op_id = ?",
          String(e),
          row.op_id,
        );
        console.error(`treasury: outbox ${row.op_id}:`, e);
      }
    }
  }

  private solana(): SolanaSettings | null {
    return config(this.env).solana;
  }

  private rpc(solana: SolanaSettings): TreasuryRpc {
    return createTreasuryRpc(solana.rpcUrl);
  }

  private treasurySigner(solana: SolanaSettings): Promise<KeyPairSigner> {
    this.signer ??= treasurySigner(solana.treasuryKey);
    return this.signer;
  }

  /** Sets the alarm `inMs` from now unless one is due sooner. */
  private async schedule(inMs: number): Promise<void> {
    const at = Date.now() + inMs;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private total(query: string, ...bindings: unknown[]): Micros {
    return (one<{ total: number }>(this.sql, query, ...bindings)?.total ?? 0) as Micros;
  }

  private get sql() {
    return this.ctx.storage.sql;
  }
}
