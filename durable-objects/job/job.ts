import { DurableObject } from "cloudflare:workers";
import { planTasks } from "../../client/kernels/index.ts";
import { POOLS, type ProtocolErrorCode, type TrustTier } from "../../protocol/contributor.ts";
import { hex } from "../../protocol/digest.ts";
import { randomBase32 } from "../../protocol/ids.ts";
import type { JobSpec, Quote, TaskSpec } from "../../protocol/jobs.ts";
import type { Micros } from "../../protocol/money.ts";
import { blake3, init as initBlake3 } from "../../wasm/index.ts";
import type { Account } from "../account/account.ts";
import type { Contributor } from "../contributor/contributor.ts";
import type { Dispatcher } from "../dispatcher/dispatcher.ts";
import { migrate, one } from "../sql.ts";
import { FileImporter } from "../storage/unixfs-import.ts";
import { BlockWriter, releaseUpload, type WriterBindings } from "../storage/writer.ts";
import type { Treasury } from "../treasury/treasury.ts";
import { assembleResult } from "./assemble.ts";
import { JOB_MIGRATIONS } from "./schema.ts";
import { agree, feeOn, groups, outputBytes, type Submitted, share } from "./verify.ts";

/**
 * One job: its spec, its tasks and their leases, the results contributors submitted, the
 * verification of those results, and the money the job still owes (the outbox).
 *
 * Contributors never call a job directly: the pool's `Dispatcher` batches what its sockets said
 * about this job (results, failures, dropped sockets) together with its idle slots into one
 * `exchange` call, and the job answers with replies, verdicts and new leases. Leases expire by the
 * object's alarm; the task is then offered again (`notify` through the outbox).
 *
 * Money moves only through the outbox: a row per operation with a stable id
 * (`job:<id>:capture`, `job:<id>:contributor:<address>`, `job:<id>:fee`, `job:<id>:release`),
 * applied to the `Account`, `Contributor` and `Treasury` objects, whose operation ids make a
 * repeat a no-op. The outbox is drained at once and, if an object cannot be reached, by the
 * alarm, so a restart of any object between "decided" and "applied" loses nothing and pays
 * nothing twice. Verification rules: `verify.ts`; the design: docs/architecture.md.
 */
export interface JobEnv extends WriterBindings {
  ACCOUNT: DurableObjectNamespace<Account>;
  DISPATCHER: DurableObjectNamespace<Dispatcher>;
  CONTRIBUTOR: DurableObjectNamespace<Contributor>;
  TREASURY: DurableObjectNamespace<Treasury>;
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
  /** What the job has cost so far: accepted results plus their platform fee, USDC base units. */
  cost: Micros;
  result_cid: string | null;
  /** Why the job failed, when it did. */
  failure: string | null;
  /** What settlement moved, once the job has ended. */
  settlement: { charged: Micros; contributors: Micros; platform_fee: Micros } | null;
  created_at: string;
  updated_at: string;
}

/** A result a contributor sent (the output still base64, as it came). */
export interface SubmittedResult {
  token: string;
  task_id: string;
  address: string;
  output: string;
  digest: string;
}
export interface ReportedFailure {
  token: string;
  task_id: string;
  address: string;
  reason: string;
}
/** One idle task slot of a connected contributor. */
export interface Slot {
  address: string;
  trust: TrustTier;
}
export interface ExchangeInput {
  results?: SubmittedResult[];
  failures?: ReportedFailure[];
  /** Lease tokens whose sockets closed: the tasks are offered again at once. */
  released?: string[];
  want?: Slot[];
}
export type Reply = { token: string; task_id: string; address: string } & (
  | { ok: true; status: "received" | "duplicate" }
  | { ok: false; code: ProtocolErrorCode; message: string }
);
export interface Verdict {
  address: string;
  task_id: string;
  status: "accepted" | "rejected";
  earned: Micros;
  reason?: string;
}
export interface Assignment {
  address: string;
  token: string;
  task_id: string;
  deadline: number;
  /** The `task` frame, serialized once here. */
  frame: string;
}
export interface ExchangeOutput {
  replies: Reply[];
  verdicts: Verdict[];
  assignments: Assignment[];
  /** Whether the job still has tasks to lease: the dispatcher keeps asking while it does. */
  more: boolean;
  /** How many more leases the job could hand out now (to contributors who may take them). */
  open: number;
  /** The job's spec as JSON text, with any assignments: the dispatcher sends it once a socket. */
  spec: string | null;
}

/** A task gives up (and fails its job) after this many ended attempts beyond `replication`. */
export const MAX_EXTRA_ATTEMPTS = 4;
/** Share of a `new` contributor's assignments that are canaries (when an answer is known). */
export const CANARY_RATE = 0.2;
/** Share of tasks first leased to a `trusted` contributor that still get full replication. */
export const SAMPLE_RATE = 0.1;
/** Contributor credits applied at once when a job settles. */
const CONCURRENT_CREDITS = 8;
/** Retry delay for an outbox operation that did not apply. */
const OUTBOX_RETRY_MS = 2_000;
const OPEN: readonly JobStatus[] = ["queued", "running"];

/** The job's row without its spec (which can be large: read once, see `specOf`). */
interface JobRow extends Record<string, SqlStorageValue> {
  id: string;
  account_id: string;
  kind: JobSpec["kind"];
  quote: string;
  hold_id: string;
  status: JobStatus;
  cost: number;
  compute_paid: number;
  result_cid: string | null;
  failure: string | null;
  charged: number | null;
  fee: number | null;
  lease_ms: number;
  created_at: number;
  updated_at: number;
}

interface TaskRow extends Record<string, SqlStorageValue> {
  idx: number;
  spec: string;
  status: "pending" | "accepted" | "failed";
  required: number;
  best: number;
  active: number;
  attempts: number;
  accepted_token: string | null;
}

interface ReplicaRow extends Record<string, SqlStorageValue> {
  token: string;
  task_idx: number;
  address: string;
  canary: number;
  status: "leased" | "submitted" | "expired" | "released" | "failed";
  deadline: number;
  output: ArrayBuffer | null;
  digest: string | null;
  verdict: "accepted" | "rejected" | "surplus" | null;
  earned: number;
}

type OutboxKind = "notify" | "capture" | "contributor" | "fee" | "release";

export class Job extends DurableObject<JobEnv> {
  private cached?: { spec: JobSpec; json: string; quote: Quote };
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: JobEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      await initBlake3();
      migrate(ctx.storage, JOB_MIGRATIONS);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * Records the job, plans its tasks and offers them to the pools; the caller has already placed
   * the hold `holdId`. Creating an existing job returns it unchanged, so a retried create is
   * harmless.
   */
  async create(input: {
    id: string;
    accountId: string;
    spec: JobSpec;
    quote: Quote;
    holdId: string;
    leaseMs: number;
  }): Promise<JobView> {
    if (!this.row()) {
      const now = Date.now();
      const tasks = planTasks(input.spec, input.id);
      this.ctx.storage.transactionSync(() => {
        this.sql.exec(
          `INSERT INTO job (id, account_id, kind, spec, quote, hold_id, status, lease_ms, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
          input.id,
          input.accountId,
          input.spec.kind,
          JSON.stringify(input.spec),
          JSON.stringify(input.quote),
          input.holdId,
          input.leaseMs,
          now,
          now,
        );
        // Every task in one statement (a job may have thousands).
        this.sql.exec(
          `INSERT INTO tasks (idx, spec, status, required)
           SELECT value ->> 0, value ->> 1, 'pending', ? FROM json_each(?)`,
          input.spec.replication,
          JSON.stringify(tasks.map((t) => [t.task_index, JSON.stringify(t)])),
        );
        this.event("status", { status: "queued", tasks: tasks.length });
        this.notifyPools();
      });
      await this.drain();
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
      failure: row.failure,
      settlement:
        row.charged === null
          ? null
          : {
              charged: row.charged as Micros,
              contributors: (row.charged - (row.fee ?? 0)) as Micros,
              platform_fee: (row.fee ?? 0) as Micros,
            },
      created_at: new Date(row.created_at).toISOString(),
      updated_at: new Date(row.updated_at).toISOString(),
    };
  }

  /** Events after `after` (their ids are the SSE ids), oldest first; `data` is JSON text. */
  events(after: number, limit = 100): { id: number; type: string; data: string }[] {
    return this.sql
      .exec<{ seq: number; type: string; data: string }>(
        "SELECT seq, type, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        after,
        limit,
      )
      .toArray()
      .map((e) => ({ id: e.seq, type: e.type, data: e.data }));
  }

  /**
   * Cancels a job that has not finished: results already accepted are paid (they were earned),
   * everything else is released. Cancelling an ended job changes nothing.
   */
  async cancel(): Promise<JobView | undefined> {
    const row = this.row();
    if (!row) return undefined;
    if (row.status === "queued" || row.status === "running" || row.status === "verifying") {
      this.ctx.storage.transactionSync(() => this.end(row, "cancelled", null));
      await this.drain();
    }
    return this.view();
  }

  /**
   * The dispatcher's one call: what contributors said about this job since the last call, and
   * the idle slots it could fill. Replies, verdicts and leases come back in one answer.
   */
  async exchange(input: ExchangeInput): Promise<ExchangeOutput> {
    const out = emptyOutput();
    const row = this.row();
    if (!row) {
      for (const r of [...(input.results ?? []), ...(input.failures ?? [])])
        out.replies.push({ ...ref(r), ok: false, code: "unknown_lease", message: "No such job." });
      return out;
    }
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.expireLeases(now);
      for (const token of input.released ?? []) this.endLease(token, "released");
      // Every lease this call names, read in one query.
      const leases = this.leasesOf([
        ...(input.failures ?? []).map((f) => f.token),
        ...(input.results ?? []).map((r) => r.token),
      ]);
      for (const f of input.failures ?? []) {
        const lease = this.checkLease(row, f, now, out, leases);
        if (!lease) continue;
        this.endLease(f.token, "failed");
        lease.status = "failed";
        out.replies.push({ ...ref(f), ok: true, status: "received" });
      }
      const stored = new Stored();
      for (const r of input.results ?? []) this.submit(row, r, now, out, leases, stored);
      stored.write(this.sql);
      this.writeJudged();
      const accepted = this.settleTasks(row, out);
      const current = this.row() as JobRow;
      if (OPEN.includes(current.status)) {
        this.leaseAll(current, input.want ?? [], now, out);
        if (current.status === "queued" && out.assignments.length > 0) this.setStatus("running");
        out.open = this.openLeases();
        out.more = out.open > 0;
      }
      if (accepted > 0) {
        const view = this.row() as JobRow;
        this.event("progress", {
          done: this.doneCount(),
          total: this.taskTotal(),
          cost: view.cost,
        });
      }
    });
    if (out.assignments.length > 0) out.spec = this.specOf(row).json;
    await this.afterChange();
    return out;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const row = this.row();
    if (!row) return;
    this.ctx.storage.transactionSync(() => {
      const expired = this.expireLeases(Date.now());
      const out = emptyOutput();
      this.settleTasks(row, out);
      if (expired > 0 && OPEN.includes((this.row() as JobRow).status) && this.hasNeed())
        this.notifyPools();
    });
    if ((this.row() as JobRow).status === "verifying") await this.finish();
    await this.afterChange();
  }

  // --- results ---------------------------------------------------------------------------------

  private submit(
    row: JobRow,
    r: SubmittedResult,
    now: number,
    out: ExchangeOutput,
    leases: Map<string, ReplicaRow>,
    stored: Stored,
  ): void {
    const lease = this.checkLease(row, r, now, out, leases);
    if (!lease) return;
    if (lease.status === "submitted") {
      out.replies.push({ ...ref(r), ok: true, status: "duplicate" });
      return;
    }
    const { spec } = this.specOf(row);
    const bytes = decodeBase64(r.output);
    const expected = this.expectedBytes(spec, lease.task_idx);
    let problem: string | null = null;
    if (!bytes) problem = "the output is not base64";
    else if (bytes.length !== expected)
      problem = `the output has ${bytes.length} bytes; this task's output has ${expected}`;
    else if (hex(blake3(bytes)) !== r.digest) problem = "the output does not match its digest";
    stored.replicas.push([r.token, bytes ? hex(bytes) : "", r.digest, now]);
    // A repeat of this result later in the same call is a duplicate.
    lease.status = "submitted";
    if (lease.canary === 0) stored.tasks.push(lease.task_idx);
    if (problem) {
      out.replies.push({ ...ref(r), ok: false, code: "bad_output", message: problem });
      this.judge(r.token, r.address, r.task_id, "rejected", 0, problem, out);
      return;
    }
    out.replies.push({ ...ref(r), ok: true, status: "received" });
  }

  /** The lease a result or failure names, or a reply saying why it is not accepted. */
  private checkLease(
    row: JobRow,
    r: { token: string; task_id: string; address: string },
    now: number,
    out: ExchangeOutput,
    leases: Map<string, ReplicaRow>,
  ): ReplicaRow | undefined {
    const lease = leases.get(r.token);
    const idx = Number(r.task_id.slice(r.task_id.indexOf(".") + 1));
    const reject = (code: ProtocolErrorCode, message: string) => {
      out.replies.push({ ...ref(r), ok: false, code, message });
      return undefined;
    };
    if (!lease || lease.address !== r.address || lease.task_idx !== idx)
      return reject("unknown_lease", `No lease ${r.token} for task ${r.task_id}.`);
    if (lease.status === "submitted") return lease;
    if (!OPEN.includes(row.status))
      return reject("job_closed", `Job ${row.id} is ${row.status}; results are not taken.`);
    if (lease.status === "expired" || (lease.status === "leased" && lease.deadline <= now)) {
      return reject("lease_expired", `The lease on task ${r.task_id} expired; it went elsewhere.`);
    }
    if (lease.status !== "leased")
      return reject("unknown_lease", `The lease on task ${r.task_id} was ${lease.status}.`);
    return lease;
  }

  /** The leases (replicas) with these tokens, by token, in one query. */
  private leasesOf(tokens: string[]): Map<string, ReplicaRow> {
    const out = new Map<string, ReplicaRow>();
    if (tokens.length === 0) return out;
    for (const r of this.sql.exec<ReplicaRow>(
      `SELECT token, task_idx, address, canary, status, deadline, digest, verdict, earned
       FROM replicas WHERE token IN (SELECT value FROM json_each(?))`,
      JSON.stringify(tokens),
    ))
      out.set(r.token, r);
    return out;
  }

  /**
   * Decides every task whose results can be decided: accepts a task when `required` results
   * agree, judges canaries and late results against an accepted answer, fails a task out of
   * attempts; ends the job when every task is accepted or one failed.
   */
  private settleTasks(row: JobRow, out: ExchangeOutput): number {
    const { spec, quote } = this.specOf(row);
    const undecided = this.sql
      .exec<ReplicaRow>(
        `SELECT token, task_idx, address, canary, output, digest FROM replicas
         INDEXED BY replicas_undecided
         WHERE status = 'submitted' AND verdict IS NULL ORDER BY at, rowid`,
      )
      .toArray();
    const byTask = new Map<number, ReplicaRow[]>();
    for (const r of undecided) {
      const list = byTask.get(r.task_idx);
      if (list) list.push(r);
      else byTask.set(r.task_idx, [r]);
    }
    const tasks = this.tasksOf([...byTask.keys()]);
    const shares = quote.tasks * quote.replication;
    // Written once per pass, not once per task: what accepted tasks earned, and the tasks' rows.
    let owed = 0;
    let accepted = 0;
    const acceptedRows: [number, number, string | null][] = [];
    const bestRows: [number, number][] = [];
    /** Canaries and late results, judged against an accepted answer. */
    const against = (answer: Submitted, replicas: ReplicaRow[], taskId: string) => {
      for (const r of replicas) {
        const ok = agree(spec, answer, toSubmitted(r));
        this.judge(
          r.token,
          r.address,
          taskId,
          ok ? "surplus" : "rejected",
          0,
          ok ? undefined : "disagrees with the verified answer",
          out,
        );
      }
    };
    for (const [idx, replicas] of byTask) {
      const task = tasks.get(idx) as TaskRow;
      const taskId = `${row.id}.${idx}`;
      if (task.status === "accepted") {
        against(this.acceptedOutput(task), replicas, taskId);
        continue;
      }
      // Canaries of a task that is not accepted yet wait for its answer.
      const real = replicas.filter((r) => r.canary === 0);
      const gs = groups(spec, real.map(toSubmitted));
      const best = gs[0] ?? [];
      if (best.length >= task.required) {
        const winners = best.slice(0, task.required);
        winners.forEach((w, rank) => {
          const earned = share(quote.compute_cost, shares, idx * quote.replication + rank);
          owed += earned;
          const who = (real.find((x) => x.token === w.token) as ReplicaRow).address;
          this.judge(w.token, who, taskId, "accepted", earned, undefined, out);
        });
        for (const r of real) {
          if (winners.some((w) => w.token === r.token)) continue;
          const inBest = best.some((b) => b.token === r.token);
          this.judge(
            r.token,
            r.address,
            taskId,
            inBest ? "surplus" : "rejected",
            0,
            inBest ? undefined : "disagrees with the agreeing replicas",
            out,
          );
        }
        acceptedRows.push([idx, best.length, winners[0]?.token ?? null]);
        accepted++;
        const canaries = replicas.filter((r) => r.canary === 1);
        if (canaries.length > 0 && winners[0]) against(winners[0], canaries, taskId);
      } else {
        bestRows.push([idx, best.length]);
      }
    }
    if (acceptedRows.length > 0)
      this.sql.exec(
        `UPDATE tasks SET status = 'accepted', best = j.value ->> 1, accepted_token = j.value ->> 2
         FROM json_each(?) AS j WHERE tasks.idx = j.value ->> 0`,
        JSON.stringify(acceptedRows),
      );
    if (bestRows.length > 0)
      this.sql.exec(
        "UPDATE tasks SET best = j.value ->> 1 FROM json_each(?) AS j WHERE tasks.idx = j.value ->> 0",
        JSON.stringify(bestRows),
      );
    this.writeJudged();
    if (owed > 0) {
      const computePaid = (this.row() as JobRow).compute_paid + owed;
      this.sql.exec(
        "UPDATE job SET compute_paid = ?, cost = ?, updated_at = ?",
        computePaid,
        computePaid + feeOn(computePaid, quote.platform_fee_bps),
        Date.now(),
      );
    }
    // Tasks out of attempts: nothing agreed often enough and no lease is still out.
    const spent = one<{ idx: number }>(
      this.sql,
      // The literal 4 (MAX_EXTRA_ATTEMPTS) matches the partial index `tasks_spent` (schema.ts).
      `SELECT idx FROM tasks INDEXED BY tasks_spent
       WHERE status = 'pending' AND attempts >= required + 4 AND active = 0 LIMIT 1`,
    );
    const current = this.row() as JobRow;
    if (spent && OPEN.includes(current.status)) {
      this.sql.exec("UPDATE tasks SET status = 'failed' WHERE idx = ?", spent.idx);
      this.end(
        current,
        "failed",
        `Task ${spent.idx} was tried ${this.task(spent.idx).attempts} times without ${this.task(spent.idx).required} agreeing results.`,
      );
      return accepted;
    }
    // Only a pass that accepted something can have accepted the last task.
    const open =
      accepted > 0 &&
      one(
        this.sql,
        "SELECT 1 AS x FROM tasks WHERE status IN ('pending', 'leased', 'verifying', 'failed') LIMIT 1",
      );
    if (OPEN.includes(current.status) && accepted > 0 && !open) {
      this.setStatus("verifying");
      this.event("status", { status: "verifying" });
      this.wakeAt(Date.now());
    }
    return accepted;
  }

  /** The tasks with these indexes (without their specs), by index, in one query. */
  private tasksOf(idxs: number[]): Map<number, TaskRow> {
    const out = new Map<number, TaskRow>();
    if (idxs.length === 0) return out;
    for (const t of this.sql.exec<TaskRow>(
      `SELECT idx, status, required, best, active, attempts, accepted_token FROM tasks
       WHERE idx IN (SELECT value FROM json_each(?))`,
      JSON.stringify(idxs),
    ))
      out.set(t.idx, t);
    return out;
  }

  private judge(
    token: string,
    address: string,
    taskId: string,
    verdict: "accepted" | "rejected" | "surplus",
    earned: number,
    reason: string | undefined,
    out: ExchangeOutput,
  ): void {
    this.judged.push([token, verdict, earned, reason ?? null]);
    out.verdicts.push({
      address,
      task_id: taskId,
      status: verdict === "rejected" ? "rejected" : "accepted",
      earned: earned as Micros,
      ...(reason ? { reason } : {}),
    });
  }

  /** Verdicts decided and not yet written (see `writeJudged`). */
  private judged: [string, string, number, string | null][] = [];

  /** Writes the verdicts decided since the last call, in one statement. */
  private writeJudged(): void {
    if (this.judged.length === 0) return;
    const rows = JSON.stringify(this.judged);
    this.judged = [];
    this.sql.exec(
      `UPDATE replicas SET verdict = j.value ->> 1, earned = j.value ->> 2, reason = j.value ->> 3
       FROM json_each(?) AS j WHERE replicas.token = j.value ->> 0`,
      rows,
    );
  }

  // --- leases ----------------------------------------------------------------------------------

  /**
   * Leases to each slot in turn, from one list of open tasks read per exchange (with who already
   * holds a replica of each), so a batch of slots costs two queries, not two per slot.
   */
  private leaseAll(row: JobRow, slots: readonly Slot[], now: number, out: ExchangeOutput): void {
    if (slots.length === 0) return;
    const candidates = this.sql
      .exec<TaskRow>(
        `SELECT * FROM tasks INDEXED BY tasks_need
         WHERE status = 'pending' AND required - best - active > 0 ORDER BY idx LIMIT ?`,
        slots.length + 64,
      )
      .toArray();
    const touched = new Set<string>();
    const first = candidates[0];
    const last = candidates.at(-1);
    if (first && last) {
      const held = this.sql.exec<{ task_idx: number; address: string }>(
        `SELECT task_idx, address FROM replicas
         WHERE address IN (SELECT value FROM json_each(?)) AND task_idx BETWEEN ? AND ?`,
        JSON.stringify([...new Set(slots.map((s) => s.address))]),
        first.idx,
        last.idx,
      );
      for (const r of held) touched.add(`${r.task_idx} ${r.address}`);
    }
    const from = { i: 0 };
    const made: Leased = { replicas: [], tasks: new Set() };
    for (const slot of slots) this.leaseTo(row, slot, now, out, candidates, touched, from, made);
    // Written together: the new replicas, and the tasks' counts as they stand in memory.
    if (made.tasks.size > 0)
      this.sql.exec(
        `UPDATE tasks SET active = j.value ->> 1, required = j.value ->> 2
         FROM json_each(?) AS j WHERE tasks.idx = j.value ->> 0`,
        JSON.stringify([...made.tasks].map((t) => [t.idx, t.active, t.required])),
      );
    if (made.replicas.length > 0)
      this.sql.exec(
        `INSERT INTO replicas (token, task_idx, address, canary, status, deadline, at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'leased', value ->> 4, ?
         FROM json_each(?)`,
        now,
        JSON.stringify(made.replicas),
      );
  }

  private leaseTo(
    row: JobRow,
    slot: Slot,
    now: number,
    out: ExchangeOutput,
    candidates: TaskRow[],
    touched: Set<string>,
    /** Candidates before `from.i` need no more leases (skipped by every later slot). */
    from: { i: number },
    made: Leased,
  ): void {
    const { spec } = this.specOf(row);
    const canary = slot.trust === "new" && Math.random() < CANARY_RATE;
    let task: TaskRow | undefined;
    if (canary) task = this.canaryFor(slot.address, touched);
    const isCanary = task !== undefined;
    // Replicas of a task go to different contributors.
    while (from.i < candidates.length) {
      const t = candidates[from.i] as TaskRow;
      if (t.required - t.best - t.active > 0) break;
      from.i++;
    }
    for (let i = from.i; !task && i < candidates.length; i++) {
      const t = candidates[i] as TaskRow;
      if (t.required - t.best - t.active > 0 && !touched.has(`${t.idx} ${slot.address}`)) task = t;
    }
    if (!task) return;
    if (!isCanary) {
      // Adaptive replication: a trusted contributor's task is usually not replicated. A task
      // sampled out that comes back (failed, expired, wrong) and goes to a contributor who is not
      // trusted needs full replication again: one untrusted result is never enough.
      const sampledOut =
        slot.trust === "trusted" &&
        spec.replication > 1 &&
        task.attempts === 0 &&
        task.active === 0 &&
        Math.random() >= SAMPLE_RATE;
      const required = sampledOut ? 1 : slot.trust === "trusted" ? task.required : spec.replication;
      task.active++;
      task.required = required;
      made.tasks.add(task);
    }
    touched.add(`${task.idx} ${slot.address}`);
    const token = newLeaseToken();
    const deadline = now + row.lease_ms;
    made.replicas.push([token, task.idx, slot.address, isCanary ? 1 : 0, deadline]);
    const taskId = `${row.id}.${task.idx}`;
    out.assignments.push({
      address: slot.address,
      token,
      task_id: taskId,
      deadline,
      frame: `{"type":"task","task_id":"${taskId}","job_id":"${row.id}","lease_token":"${token}","deadline":${deadline},"task":${task.spec}}`,
    });
    this.wakeAt(deadline);
  }

  /**
   * An accepted task `address` has not touched (in SQLite, or in this exchange: `touched`), picked
   * at random: the first such task from a random index on, wrapping around, found with the
   * `replicas (task_idx, address)` index instead of ordering every accepted task at random.
   */
  private canaryFor(address: string, touched: Set<string>): TaskRow | undefined {
    const from = Math.floor(Math.random() * this.taskTotal());
    for (const op of [">=", "<"] as const) {
      const near = this.sql
        .exec<TaskRow>(
          `SELECT idx, spec FROM tasks AS t
           WHERE status = 'accepted' AND idx ${op} ?
             AND NOT EXISTS (SELECT 1 FROM replicas AS r WHERE r.task_idx = t.idx AND r.address = ?)
           ORDER BY idx LIMIT 4`,
          from,
          address,
        )
        .toArray()
        .find((t) => !touched.has(`${t.idx} ${address}`));
      if (near) return near;
    }
    return undefined;
  }

  /** Ends leases past their deadline; returns how many. */
  private expireLeases(now: number): number {
    const expired = this.sql
      .exec<{ token: string }>(
        "SELECT token FROM replicas WHERE status = 'leased' AND deadline <= ?",
        now,
      )
      .toArray();
    for (const { token } of expired) this.endLease(token, "expired");
    return expired.length;
  }

  private endLease(token: string, how: "expired" | "released" | "failed"): void {
    const lease = one<ReplicaRow>(
      this.sql,
      "SELECT task_idx, canary FROM replicas WHERE token = ? AND status = 'leased'",
      token,
    );
    if (!lease) return;
    this.sql.exec("UPDATE replicas SET status = ? WHERE token = ?", how, token);
    if (lease.canary === 0)
      this.sql.exec(
        "UPDATE tasks SET active = active - 1, attempts = attempts + 1 WHERE idx = ?",
        lease.task_idx,
      );
  }

  /** Leases the open tasks still need, all told. */
  private openLeases(): number {
    return (
      one<{ n: number }>(
        this.sql,
        `SELECT COALESCE(SUM(required - best - active), 0) AS n FROM tasks INDEXED BY tasks_need
         WHERE status = 'pending' AND required - best - active > 0`,
      )?.n ?? 0
    );
  }

  private hasNeed(): boolean {
    return !!one(
      this.sql,
      `SELECT 1 AS x FROM tasks INDEXED BY tasks_need
       WHERE status = 'pending' AND required - best - active > 0 LIMIT 1`,
    );
  }

  // --- the end: result, settlement -------------------------------------------------------------

  /** Assembles and stores the result of a job whose tasks are all accepted, then settles. */
  private async finish(): Promise<void> {
    const row = this.row() as JobRow;
    if (row.status !== "verifying" || this.finishing) return;
    this.finishing = true;
    try {
      await this.finishOnce(row);
    } finally {
      this.finishing = false;
    }
  }

  private finishing = false;

  private async finishOnce(row: JobRow): Promise<void> {
    const { spec } = this.specOf(row);
    const parts = this.sql
      .exec<{ spec: string; output: ArrayBuffer }>(
        `SELECT t.spec, r.output FROM tasks t JOIN replicas r ON r.token = t.accepted_token
         ORDER BY t.idx`,
      )
      .toArray()
      .map((p) => ({ task: JSON.parse(p.spec) as TaskSpec, output: new Uint8Array(p.output) }));
    const result = await assembleResult(spec, parts);
    const cid = await this.store(row, result.bytes, `${row.id}-${result.name}`);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("UPDATE job SET result_cid = ? WHERE id = ?", cid, row.id);
      this.end(this.row() as JobRow, "completed", null);
    });
  }

  /** Stores the result as a UnixFS file in the customer's account; returns its CID. */
  private async store(row: JobRow, bytes: Uint8Array, name: string): Promise<string> {
    // Each attempt owns its blocks under its own name: an attempt that finds the result already
    // recorded (a retry after a crash) gives back only its own copy.
    const writer = new BlockWriter(this.env, `${row.id}-${randomBase32(8)}`);
    const importer = new FileImporter((cid, block) => writer.put(cid, block));
    await importer.write(bytes);
    const file = await importer.close();
    await writer.commit();
    const account = this.env.ACCOUNT.get(this.env.ACCOUNT.idFromName(row.account_id));
    const outcome = await account.recordUpload(
      {
        cid: file.cid.toString(),
        upload_id: writer.owner,
        name,
        kind: "file",
        size: file.size,
        dag_size: writer.bytes,
        blocks: writer.blockCount,
        blake3: hex(blake3(bytes)),
      },
      // A result is kept even past the storage quota: the customer paid for it.
      Number.MAX_SAFE_INTEGER,
    );
    // The same bytes already stored by this account: its copy stays, this one is given back.
    if (outcome.ok && !outcome.created) await releaseUpload(this.env, writer.owner);
    return file.cid.toString();
  }

  /**
   * Ends the job (completed, failed or cancelled) and writes its settlement to the outbox:
   * capture what accepted results earned plus the fee on it, credit each contributor, credit the
   * fee, release the rest of the hold. Must run inside a transaction.
   */
  private end(row: JobRow, status: "completed" | "failed" | "cancelled", failure: string | null) {
    const { quote } = this.specOf(row);
    this.sql.exec("UPDATE replicas SET status = 'released' WHERE status = 'leased'");
    this.sql.exec("UPDATE tasks SET status = 'failed' WHERE status = 'pending'");
    const compute = row.compute_paid;
    const fee = feeOn(compute, quote.platform_fee_bps);
    const charged = compute + fee;
    this.sql.exec(
      "UPDATE job SET status = ?, failure = ?, charged = ?, fee = ?, updated_at = ?",
      status,
      failure,
      charged,
      fee,
      Date.now(),
    );
    if (charged > 0) this.outbox(`job:${row.id}:capture`, "capture", null, charged, null);
    const perContributor = this.sql
      .exec<{ address: string; earned: number; accepted: number; rejected: number }>(
        `SELECT address, SUM(earned) AS earned, SUM(verdict IN ('accepted', 'surplus')) AS accepted,
                SUM(verdict = 'rejected') AS rejected
         FROM replicas WHERE verdict IS NOT NULL GROUP BY address`,
      )
      .toArray();
    for (const c of perContributor) {
      this.outbox(`job:${row.id}:contributor:${c.address}`, "contributor", c.address, c.earned, {
        accepted: c.accepted,
        rejected: c.rejected,
      });
    }
    if (fee > 0) this.outbox(`job:${row.id}:fee`, "fee", null, fee, null);
    this.outbox(`job:${row.id}:release`, "release", null, null, null);
    this.event("status", {
      status,
      ...(failure ? { failure } : {}),
      result_cid: (this.row() as JobRow).result_cid,
      settlement: { charged, contributors: compute, platform_fee: fee },
    });
  }

  // --- outbox ----------------------------------------------------------------------------------

  private outbox(
    opId: string,
    kind: OutboxKind,
    target: string | null,
    amount: number | null,
    data: unknown,
  ): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO outbox (op_id, kind, target, amount, data) VALUES (?, ?, ?, ?, ?)",
      opId,
      kind,
      target,
      amount,
      data === null ? null : JSON.stringify(data),
    );
  }

  private notifyPools(): void {
    const n = one<{ n: number }>(
      this.sql,
      "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'notify'",
    );
    for (const pool of POOLS)
      this.outbox(
        `job:${(this.row() as JobRow).id}:notify:${n?.n ?? 0}:${pool}`,
        "notify",
        pool,
        null,
        null,
      );
  }

  private async afterChange(): Promise<void> {
    if (one(this.sql, "SELECT 1 AS x FROM outbox WHERE done_at IS NULL LIMIT 1"))
      await this.drain();
    const row = this.row();
    // A finish already running needs no alarm (it would only find it running).
    if (row?.status === "verifying" && !this.finishing) this.wakeAt(Date.now());
    await this.armAlarm();
  }

  /** Applies every pending outbox operation in order; on a failure the alarm tries again. */
  private async drain(): Promise<void> {
    // One drain at a time: a second caller's operations are picked up by the running one.
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        await this.drainOnce();
      } while (this.drainAgain);
    } finally {
      this.draining = false;
    }
  }

  private draining = false;
  private drainAgain = false;

  private async drainOnce(): Promise<void> {
    const row = this.row();
    if (!row) return;
    const pending = this.sql
      .exec<{
        op_id: string;
        kind: OutboxKind;
        target: string | null;
        amount: number | null;
        data: string | null;
      }>("SELECT op_id, kind, target, amount, data FROM outbox WHERE done_at IS NULL ORDER BY seq")
      .toArray();
    const account = this.env.ACCOUNT.get(this.env.ACCOUNT.idFromName(row.account_id));
    // In order, except that consecutive contributor credits (independent of each other) go a
    // group at a time; a group stops the drain if any of it fails.
    for (let i = 0; i < pending.length; ) {
      const op = pending[i] as (typeof pending)[number];
      let end = i + 1;
      if (op.kind === "contributor")
        while (
          end < pending.length &&
          end - i < CONCURRENT_CREDITS &&
          pending[end]?.kind === "contributor"
        )
          end++;
      const group = pending.slice(i, end);
      const results = await Promise.allSettled(group.map((g) => this.apply(row, account, g)));
      const done = group.filter((_, k) => results[k]?.status === "fulfilled").map((g) => g.op_id);
      if (done.length > 0)
        this.sql.exec(
          "UPDATE outbox SET done_at = ? WHERE op_id IN (SELECT value FROM json_each(?))",
          Date.now(),
          JSON.stringify(done),
        );
      const failed = results.findIndex((r) => r.status === "rejected");
      if (failed >= 0) {
        const reason = (results[failed] as PromiseRejectedResult).reason;
        console.error(`job ${row.id}: outbox ${group[failed]?.op_id} not applied yet`, reason);
        this.wakeAt(Date.now() + OUTBOX_RETRY_MS);
        await this.armAlarm();
        return;
      }
      i = end;
    }
  }

  private async apply(
    row: JobRow,
    account: DurableObjectStub<Account>,
    op: {
      op_id: string;
      kind: OutboxKind;
      target: string | null;
      amount: number | null;
      data: string | null;
    },
  ): Promise<void> {
    switch (op.kind) {
      case "notify": {
        const pool = this.env.DISPATCHER.get(
          this.env.DISPATCHER.idFromName(op.target ?? "browser"),
        );
        await pool.notify(row.id);
        return;
      }
      case "capture": {
        const r = await account.capture(
          row.hold_id,
          (op.amount ?? 0) as Micros,
          op.op_id,
          `job ${row.id}`,
        );
        if (!r.ok) throw new Error(`${r.code}: ${r.detail}`);
        return;
      }
      case "contributor": {
        const address = op.target as string;
        const counts = JSON.parse(op.data ?? "{}") as { accepted: number; rejected: number };
        const c = this.env.CONTRIBUTOR.get(this.env.CONTRIBUTOR.idFromName(address));
        await c.record(address, op.op_id, {
          jobId: row.id,
          earned: (op.amount ?? 0) as Micros,
          ...counts,
        });
        return;
      }
      case "fee": {
        const t = this.env.TREASURY.get(this.env.TREASURY.idFromName("treasury"));
        await t.creditFee(op.op_id, row.id, (op.amount ?? 0) as Micros);
        return;
      }
      case "release": {
        const r = await account.release(row.hold_id, op.op_id, `job ${row.id} ${row.status}`);
        // An already-closed hold means the release (or an earlier one) took effect.
        if (!r.ok && r.code !== "hold_closed") throw new Error(`${r.code}: ${r.detail}`);
        return;
      }
    }
  }

  // --- small helpers ---------------------------------------------------------------------------

  /** Asks for the alarm at `at` or earlier; the alarm itself is set by `armAlarm`. */
  private wake: number | null = null;
  private wakeAt(at: number): void {
    if (this.wake === null || at < this.wake) this.wake = at;
  }
  private async armAlarm(): Promise<void> {
    const next = this.wake;
    this.wake = null;
    if (next === null) return;
    if (this.alarmAt !== null && this.alarmAt <= next) return;
    this.alarmAt = next;
    await this.ctx.storage.setAlarm(next);
  }

  private event(type: string, data: unknown): void {
    this.sql.exec(
      "INSERT INTO events (type, data, at) VALUES (?, ?, ?)",
      type,
      JSON.stringify(data),
      Date.now(),
    );
  }

  private setStatus(status: JobStatus): void {
    this.sql.exec("UPDATE job SET status = ?, updated_at = ?", status, Date.now());
  }

  private doneCount(): number {
    return (
      one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM tasks WHERE status = 'accepted'")
        ?.n ?? 0
    );
  }

  /** A job's tasks are planned once, at creation: counted once per object. */
  private total?: number;
  private taskTotal(): number {
    this.total ??= one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM tasks")?.n ?? 0;
    return this.total;
  }

  private task(idx: number): TaskRow {
    return one<TaskRow>(this.sql, "SELECT * FROM tasks WHERE idx = ?", idx) as TaskRow;
  }

  /** A task's output size (every task of a wgsl job has the same: no need to read the task). */
  private expectedBytes(spec: JobSpec, idx: number): number {
    if (spec.kind === "wgsl") return spec.outputs.reduce((n, o) => n + o.size, 0);
    return outputBytes(spec, JSON.parse(this.task(idx).spec) as TaskSpec);
  }

  private acceptedOutput(task: TaskRow): Submitted {
    const r = one<ReplicaRow>(
      this.sql,
      "SELECT * FROM replicas WHERE token = ?",
      task.accepted_token,
    );
    return toSubmitted(r as ReplicaRow);
  }

  private specOf(row: JobRow): { spec: JobSpec; json: string; quote: Quote } {
    if (!this.cached) {
      const json = (
        one<{ spec: string }>(this.sql, "SELECT spec FROM job LIMIT 1") as { spec: string }
      ).spec;
      this.cached = {
        spec: JSON.parse(json) as JobSpec,
        json,
        quote: JSON.parse(row.quote) as Quote,
      };
    }
    return this.cached;
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  private row(): JobRow | undefined {
    return one<JobRow>(
      this.sql,
      `SELECT id, account_id, kind, quote, hold_id, status, cost, compute_paid, result_cid, failure,
              charged, fee, lease_ms, created_at, updated_at
       FROM job LIMIT 1`,
    );
  }
}

/** Leases made in one exchange, written together at its end. */
interface Leased {
  /** token, task index, address, canary (0 or 1), deadline. */
  replicas: [string, number, string, number, number][];
  tasks: Set<TaskRow>;
}

/** Results accepted for storage in one exchange, written together (`write`). */
class Stored {
  /** token, output as hex, digest, time. */
  readonly replicas: [string, string, string, number][] = [];
  /** A task index per real (not canary) result: its lease is no longer active. */
  readonly tasks: number[] = [];

  write(sql: SqlStorage): void {
    if (this.replicas.length > 0)
      sql.exec(
        `UPDATE replicas SET status = 'submitted', output = unhex(j.value ->> 1),
                digest = j.value ->> 2, at = j.value ->> 3
         FROM json_each(?) AS j WHERE replicas.token = j.value ->> 0`,
        JSON.stringify(this.replicas),
      );
    if (this.tasks.length > 0)
      sql.exec(
        `UPDATE tasks SET active = active - c.n, attempts = attempts + c.n
         FROM (SELECT value AS idx, COUNT(*) AS n FROM json_each(?) GROUP BY value) AS c
         WHERE tasks.idx = c.idx`,
        JSON.stringify(this.tasks),
      );
  }
}

function emptyOutput(): ExchangeOutput {
  return { replies: [], verdicts: [], assignments: [], more: false, open: 0, spec: null };
}

function ref(r: { token: string; task_id: string; address: string }) {
  return { token: r.token, task_id: r.task_id, address: r.address };
}

function toSubmitted(r: ReplicaRow): Submitted {
  return {
    token: r.token,
    output: new Uint8Array(r.output ?? new ArrayBuffer(0)),
    digest: r.digest ?? "",
  };
}

/** 32 random bytes, base64url: what a contributor must quote to submit for its lease. */
function newLeaseToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeBase64(s: string): Uint8Array | null {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
