import { DurableObject } from "cloudflare:workers";
import { planTasks } from "../../client/kernels/index.ts";
import type { JobSpec, Quote } from "../../protocol/jobs.ts";
import type { Micros } from "../../protocol/money.ts";
import type { Account } from "../account/account.ts";
import { migrate, one } from "../sql.ts";

/**
 * One job: its spec, its tasks, its escrow hold on the customer's account and the money
 * movements it still owes (the outbox).
 *
 * Money moves only through the outbox: a row per operation with a stable id (`job:<id>:release`),
 * applied against the `Account` ledger, whose operation ids make a repeat a no-op. The outbox is
 * drained right away and, if the account cannot be reached, by the object's alarm, so a restart
 * of either object between "decided" and "applied" loses nothing and pays nothing twice.
 *
 * As built: creation, status, cancellation with release. Dispatch, verification and capture of
 * earned work arrive with the marketplace.
 */
export interface JobEnv {
  ACCOUNT: DurableObjectNamespace<Account>;
}

export const JOB_STATUSES = [
  "queued",
  "running",
  "verifying",
  "completed",
  "failed",
  "cancelled",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobView {
  id: string;
  account_id: string;
  kind: JobSpec["kind"];
  status: JobStatus;
  tasks: { total: number; done: number };
  quote: Quote;
  /** What the job has cost so far (captured from the hold), USDC base units. */
  cost: Micros;
  result_cid: string | null;
  created_at: string;
  updated_at: string;
}

const MIGRATIONS = [
  `CREATE TABLE job (
     id          TEXT PRIMARY KEY,
     account_id  TEXT NOT NULL,
     kind        TEXT NOT NULL,
     spec        TEXT NOT NULL,
     quote       TEXT NOT NULL,
     hold_id     TEXT NOT NULL,
     status      TEXT NOT NULL CHECK (status IN ('queued','running','verifying','completed','failed','cancelled')),
     cost        INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
     result_cid  TEXT,
     created_at  INTEGER NOT NULL,
     updated_at  INTEGER NOT NULL
   );
   CREATE TABLE tasks (
     idx     INTEGER PRIMARY KEY,
     spec    TEXT NOT NULL,
     status  TEXT NOT NULL CHECK (status IN ('pending','leased','verifying','accepted','failed'))
   );
   CREATE TABLE outbox (
     op_id    TEXT PRIMARY KEY,
     kind     TEXT NOT NULL CHECK (kind IN ('release')),
     done_at  INTEGER
   );`,
] as const;

interface JobRow extends Record<string, SqlStorageValue> {
  id: string;
  account_id: string;
  kind: JobSpec["kind"];
  spec: string;
  quote: string;
  hold_id: string;
  status: JobStatus;
  cost: number;
  result_cid: string | null;
  created_at: number;
  updated_at: number;
}

/** Retry delay for an outbox the account did not take. */
const OUTBOX_RETRY_MS = 5_000;

export class Job extends DurableObject<JobEnv> {
  constructor(ctx: DurableObjectState, env: JobEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /**
   * Records the job and plans its tasks; the caller has already placed the hold `holdId`.
   * Creating an existing job returns it unchanged, so a retried create is harmless.
   */
  create(input: {
    id: string;
    accountId: string;
    spec: JobSpec;
    quote: Quote;
    holdId: string;
  }): JobView {
    if (!this.row()) {
      const now = Date.now();
      const tasks = planTasks(input.spec, input.id);
      this.ctx.storage.transactionSync(() => {
        this.sql.exec(
          `INSERT INTO job (id, account_id, kind, spec, quote, hold_id, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
          input.id,
          input.accountId,
          input.spec.kind,
          JSON.stringify(input.spec),
          JSON.stringify(input.quote),
          input.holdId,
          now,
          now,
        );
        for (const task of tasks) {
          this.sql.exec(
            "INSERT INTO tasks (idx, spec, status) VALUES (?, ?, 'pending')",
            task.task_index,
            JSON.stringify(task),
          );
        }
      });
    }
    return this.view() as JobView;
  }

  view(): JobView | undefined {
    const row = this.row();
    if (!row) return undefined;
    const counts = one<{ total: number; done: number }>(
      this.sql,
      "SELECT COUNT(*) AS total, COALESCE(SUM(status = 'accepted'), 0) AS done FROM tasks",
    );
    return {
      id: row.id,
      account_id: row.account_id,
      kind: row.kind,
      status: row.status,
      tasks: { total: counts?.total ?? 0, done: counts?.done ?? 0 },
      quote: JSON.parse(row.quote) as Quote,
      cost: row.cost as Micros,
      result_cid: row.result_cid,
      created_at: new Date(row.created_at).toISOString(),
      updated_at: new Date(row.updated_at).toISOString(),
    };
  }

  /**
   * Cancels a job that has not finished and releases what it has not earned. Cancelling a
   * finished or cancelled job changes nothing.
   */
  async cancel(): Promise<JobView | undefined> {
    const row = this.row();
    if (!row) return undefined;
    if (row.status === "queued" || row.status === "running" || row.status === "verifying") {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("UPDATE job SET status = 'cancelled', updated_at = ?", Date.now());
        this.sql.exec(
          "UPDATE tasks SET status = 'failed' WHERE status IN ('pending', 'leased', 'verifying')",
        );
        this.sql.exec(
          "INSERT OR IGNORE INTO outbox (op_id, kind) VALUES (?, 'release')",
          `job:${row.id}:release`,
        );
      });
      await this.drain();
    }
    return this.view();
  }

  override async alarm(): Promise<void> {
    await this.drain();
  }

  /** Applies every pending outbox operation; on failure, the alarm tries again. */
  private async drain(): Promise<void> {
    const row = this.row();
    if (!row) return;
    const pending = this.sql
      .exec<{ op_id: string; kind: "release" }>(
        "SELECT op_id, kind FROM outbox WHERE done_at IS NULL",
      )
      .toArray();
    const account = this.env.ACCOUNT.get(this.env.ACCOUNT.idFromName(row.account_id));
    for (const op of pending) {
      try {
        const result = await account.release(row.hold_id, op.op_id, `job ${row.id} ${row.status}`);
        // An already-closed hold means the release (or an earlier one) took effect.
        if (!result.ok && result.code !== "hold_closed")
          throw new Error(`${result.code}: ${result.detail}`);
        this.sql.exec("UPDATE outbox SET done_at = ? WHERE op_id = ?", Date.now(), op.op_id);
      } catch (err) {
        console.error(`job ${row.id}: outbox ${op.op_id} not applied yet`, err);
        await this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS);
        return;
      }
    }
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  private row(): JobRow | undefined {
    return one<JobRow>(this.sql, "SELECT * FROM job LIMIT 1");
  }
}
