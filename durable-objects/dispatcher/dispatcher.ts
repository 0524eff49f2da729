import { DurableObject } from "cloudflare:workers";
import {
  type Capabilities,
  ClientFrame,
  POOLS,
  type Pool,
  PROTOCOL_VERSION,
  type ProtocolErrorCode,
  type ServerFrame,
  type TrustTier,
} from "../../protocol/contributor.ts";
import type { Contributor } from "../contributor/contributor.ts";
import type { ExchangeInput, ExchangeOutput, Job } from "../job/job.ts";
import { migrate, one } from "../sql.ts";
import { newNonce, verifyAuth } from "./handshake.ts";

/**
 * One contributor pool (`browser`, `native`): its contributors' WebSockets, the jobs that have
 * work for it, and the leases it has handed out.
 *
 * Sockets are hibernatable (`ctx.acceptWebSocket`): an idle pool costs nothing, and each socket's
 * state lives in its attachment, so it survives the object being evicted between frames. Leases
 * and the list of jobs with work live in SQLite for the same reason.
 *
 * The pool is a matchmaker, not a judge: what a contributor says about a task (result, failure,
 * or its socket closing) is queued per job and sent to that `Job` in one `exchange` call together
 * with the idle slots the pool can offer; the job answers with replies, verdicts and new leases,
 * which go out as frames. One exchange per job is in flight at a time, so under load each call
 * carries many frames' worth of work. Jobs are served oldest first.
 */
export interface DispatcherEnv {
  JOB: DurableObjectNamespace<Job>;
  CONTRIBUTOR: DurableObjectNamespace<Contributor>;
}

type Attachment =
  | {
      state: "challenged" | "verifying";
      id: string;
      pool: Pool;
      nonce: string;
      connectedAt: number;
    }
  | {
      state: "ready";
      id: string;
      pool: Pool;
      address: string;
      trust: TrustTier;
      capabilities: Capabilities;
      slots: number;
      /** Tasks per slot (`ready`'s `batch`; absent in attachments written before it existed). */
      batch?: number;
      connectedAt: number;
    };
type Ready = Extract<Attachment, { state: "ready" }>;

export interface ContributorView {
  address: string;
  pool: Pool;
  slots: number;
  capabilities: Capabilities;
}

/** A connected, authenticated contributor as the scheduler sees it. */
interface Live {
  ws: WebSocket;
  at: Ready;
  /** Leases out on this socket. */
  inflight: number;
  /** Slots promised to an exchange in flight. */
  reserved: number;
  /** Jobs whose spec this socket has been sent (a `job` frame precedes its first task). */
  jobs: Set<string>;
}

interface Queued {
  input: Required<Pick<ExchangeInput, "results" | "failures" | "released">>;
  /** Who gets the reply for each token. */
  replyTo: Map<string, WebSocket>;
}

/** A lease out on a socket and not answered yet (the in-memory side of the `leases` table). */
interface OpenLease {
  socket: string;
  job: string;
  task: string;
}

/** Tasks a socket may hold at once: its slots times the tasks each slot takes. */
function capacity(at: Ready): number {
  return at.slots * (at.batch ?? 1);
}

/** Close codes (RFC 6455 §7.4): 1008 policy violation for a failed or out-of-order handshake. */
const POLICY_VIOLATION = 1008;
/** A socket that has not authenticated by then is closed, so idle handshakes cannot pile up. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Sockets one pool object holds; past it new connections are refused (shard the pool). */
export const MAX_SOCKETS = 20_000;
/** An expired lease is remembered this long, so a late result hears `lease_expired`. */
const EXPIRED_LEASE_MEMORY_MS = 10 * 60_000;
/** Slots (task places) offered to one job in one exchange. */
const MAX_SLOTS_PER_EXCHANGE = 1024;
/** Retry delay when a job could not be reached. */
const RETRY_MS = 1_000;

const MIGRATIONS = [
  `CREATE TABLE jobs (
     job_id  TEXT PRIMARY KEY,
     seq     INTEGER NOT NULL,
     epoch   INTEGER NOT NULL
   );
   CREATE TABLE leases (
     token     TEXT PRIMARY KEY,
     socket    TEXT NOT NULL,
     job_id    TEXT NOT NULL,
     task_id   TEXT NOT NULL,
     deadline  INTEGER NOT NULL,
     expired   INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX leases_socket ON leases (socket);
   CREATE INDEX leases_deadline ON leases (expired, deadline);`,
] as const;

export class Dispatcher extends DurableObject<DispatcherEnv> {
  private live: Map<string, Live> | null = null;
  /** The same sockets by contributor address (its latest connection), for verdicts. */
  private readonly byAddress = new Map<string, Live>();
  private readonly queued = new Map<string, Queued>();
  private readonly busy = new Set<string>();
  /** Leases answered since the last write of their `expired` mark (see `flushAnswered`). */
  private readonly answered = new Set<string>();
  /**
   * Open leases (not answered, not expired) by token: the lease table's live rows, loaded when the
   * object starts and kept in step with it, so a result costs no query. Ended leases are only in
   * SQLite (remembered a while for late and repeated results).
   */
  private readonly open = new Map<string, OpenLease>();
  /** Each live socket's scheduler state, by its WebSocket (for replies and batching). */
  private readonly liveOf = new WeakMap<WebSocket, Live>();
  /**
   * Sockets a job was offered and could not use (it has given their contributors every task they
   * may take). Not offered to that job again until something about it changes.
   */
  private readonly declined = new Map<string, Set<string>>();
  private alarmAt: number | null = null;
  /** Leases each job said it could still hand out, at its last exchange (see `reserve`). */
  private readonly openOf = new Map<string, number>();
  /** The `jobs` table in memory: job id → epoch, oldest first (see `listed`). */
  private jobs: Map<string, number> | null = null;

  constructor(ctx: DurableObjectState, env: DispatcherEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
      for (const l of ctx.storage.sql
        .exec<{ token: string; socket: string; job_id: string; task_id: string }>(
          "SELECT token, socket, job_id, task_id FROM leases WHERE expired = 0",
        )
        .toArray())
        this.open.set(l.token, { socket: l.socket, job: l.job_id, task: l.task_id });
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Upgrades `GET /v1/contribute?pool=…` (forwarded by the Worker) to a contributor socket. */
  override async fetch(request: Request): Promise<Response> {
    const pool = new URL(request.url).searchParams.get("pool") ?? "browser";
    if (!POOLS.includes(pool as Pool)) return new Response("unknown pool", { status: 400 });
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS) {
      return new Response("pool is full", { status: 503, headers: { "retry-after": "30" } });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const nonce = newNonce();
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = {
      state: "challenged",
      id: crypto.randomUUID(),
      pool: pool as Pool,
      nonce,
      connectedAt: Date.now(),
    };
    server.serializeAttachment(attachment);
    send(server, { type: "challenge", version: PROTOCOL_VERSION, pool: pool as Pool, nonce });
    await this.wakeAt(Date.now() + HANDSHAKE_TIMEOUT_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = parse(message);
    if (!frame)
      return fail(ws, "malformed_frame", "Frames are JSON text matching docs/protocol.md.", false);
    const at = ws.deserializeAttachment() as Attachment;

    if (frame.type === "auth") {
      if (at.state !== "challenged")
        return fail(ws, "out_of_order", "Already authenticated.", true);
      ws.serializeAttachment({ ...at, state: "verifying" });
      if (!(await verifyAuth(frame.address, frame.signature, at.nonce, at.pool))) {
        return fail(
          ws,
          "bad_signature",
          "The signature does not match this address and nonce.",
          true,
        );
      }
      const trust = await this.contributor(frame.address).hello(frame.address, frame.payout);
      const ready: Ready = {
        state: "ready",
        id: at.id,
        pool: at.pool,
        address: frame.address,
        trust,
        capabilities: frame.capabilities,
        slots: 0,
        connectedAt: at.connectedAt,
      };
      ws.serializeAttachment(ready);
      const live: Live = { ws, at: ready, inflight: 0, reserved: 0, jobs: new Set() };
      this.sockets().set(at.id, live);
      this.liveOf.set(ws, live);
      this.byAddress.set(ready.address, live);
      return send(ws, { type: "welcome", address: frame.address, pool: at.pool, trust });
    }
    if (at.state !== "ready") {
      return fail(ws, "out_of_order", "Authenticate (auth) before anything else.", true);
    }
    const live = this.sockets().get(at.id);
    if (frame.type === "ready") {
      const next: Ready = { ...at, slots: frame.slots, batch: frame.batch ?? 1 };
      ws.serializeAttachment(next);
      if (live) live.at = next;
      this.kick();
      return;
    }
    // Results and failures (one, or a batch of them): each only for a lease this socket holds.
    const jobs = new Set<string>();
    for (const f of frame.type === "batch" ? frame.frames : [frame]) {
      const jobId = this.answer(ws, at, live, f);
      if (jobId) jobs.add(jobId);
    }
    for (const jobId of jobs) this.pumpThenKick(jobId);
    // The answered leases freed slots: other jobs may use them while these jobs are busy.
    this.kick();
  }

  /** Queues one result or failure for its job; returns the job, or null after an error frame. */
  private answer(
    ws: WebSocket,
    at: Ready,
    live: Live | undefined,
    frame: Extract<ClientFrame, { type: "result" | "failed" }>,
  ): string | null {
    const token = frame.lease_token;
    let jobId: string;
    const open = this.open.get(token);
    if (open && open.socket === at.id && open.task === frame.task_id) {
      // Remembered (as ended) a while, so a repeated result reaches the job and hears `duplicate`
      // instead of an error. Marked in memory now and in SQLite with the next exchange: one write
      // per batch instead of a commit per frame.
      this.open.delete(token);
      this.answered.add(token);
      if (live) live.inflight--;
      jobId = open.job;
    } else {
      // Not open: a late or repeated answer to a lease that ended (kept in SQLite a while).
      const ended = open
        ? undefined
        : one<{ job_id: string; socket: string; task_id: string }>(
            this.sql,
            "SELECT job_id, socket, task_id FROM leases WHERE token = ?",
            token,
          );
      if (!ended || ended.socket !== at.id || ended.task_id !== frame.task_id) {
        fail(
          ws,
          "unknown_lease",
          `No lease on this connection for task ${frame.task_id}.`,
          false,
          frame.task_id,
        );
        return null;
      }
      jobId = ended.job_id;
    }
    const q = this.queue(jobId);
    q.replyTo.set(token, ws);
    const ref = { token, task_id: frame.task_id, address: at.address };
    if (frame.type === "result") {
      q.input.results.push({ ...ref, output: frame.output, digest: frame.digest });
    } else {
      q.input.failures.push({ ...ref, reason: frame.reason });
    }
    return jobId;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.dropped(ws);
    // Echo only codes an endpoint may send (RFC 6455 §7.4): 1006 and 1005 are reserved.
    const valid =
      (code >= 1000 && code <= 1003) ||
      (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999);
    ws.close(valid ? code : 1000, "closing");
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.dropped(ws);
  }

  /** A job has work for this pool (again): it joins the queue of jobs served. */
  async notify(jobId: string): Promise<void> {
    this.list(jobId);
    this.kick();
  }

  /** The jobs with work, oldest first, with their epochs: the `jobs` table, read once. */
  private listed(): Map<string, number> {
    this.jobs ??= new Map(
      this.sql
        .exec<{ job_id: string; epoch: number }>("SELECT job_id, epoch FROM jobs ORDER BY seq")
        .toArray()
        .map((j) => [j.job_id, j.epoch]),
    );
    return this.jobs;
  }

  /** Puts a job on the list of jobs with work (at the end, if it is not on it). */
  private list(jobId: string): void {
    const jobs = this.listed(); // read before the write below
    const seq =
      one<{ n: number }>(this.sql, "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs")?.n ?? 1;
    this.sql.exec(
      `INSERT INTO jobs (job_id, seq, epoch) VALUES (?, ?, 1)
       ON CONFLICT (job_id) DO UPDATE SET epoch = epoch + 1`,
      jobId,
      seq,
    );
    jobs.set(jobId, (jobs.get(jobId) ?? 0) + 1);
    this.declined.delete(jobId);
    this.openOf.delete(jobId); // it has new work: how much, its next exchange says
  }

  /** Expires leases past their deadline, closes unauthenticated sockets, retries jobs. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    let waiting = false;
    for (const ws of this.ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment;
      if (at.state === "ready") continue;
      if (now - at.connectedAt >= HANDSHAKE_TIMEOUT_MS) {
        fail(ws, "out_of_order", "No authentication within the handshake timeout.", true);
      } else {
        waiting = true;
      }
    }
    if (waiting) await this.wakeAt(now + HANDSHAKE_TIMEOUT_MS);
    // The job expires the lease itself; here the slot is freed and the token remembered a while.
    this.flushAnswered();
    const expired = this.sql
      .exec<{ token: string; socket: string }>(
        "UPDATE leases SET expired = 1 WHERE expired = 0 AND deadline <= ? RETURNING token, socket",
        now,
      )
      .toArray();
    for (const { token, socket } of expired) {
      if (!this.open.delete(token)) continue;
      const live = this.sockets().get(socket);
      if (live) live.inflight--;
    }
    this.sql.exec(
      "DELETE FROM leases WHERE expired = 1 AND deadline <= ?",
      now - EXPIRED_LEASE_MEMORY_MS,
    );
    const next = one<{ d: number | null }>(
      this.sql,
      "SELECT MIN(deadline) AS d FROM leases WHERE expired = 0",
    )?.d;
    if (next != null) await this.wakeAt(next);
    else if (one(this.sql, "SELECT 1 AS x FROM leases LIMIT 1"))
      await this.wakeAt(now + EXPIRED_LEASE_MEMORY_MS);
    this.declined.clear();
    for (const jobId of this.queued.keys()) void this.pump(jobId);
    this.kick();
  }

  /** The authenticated contributors connected now. */
  contributors(): ContributorView[] {
    return [...this.sockets().values()].map(({ at }) => ({
      address: at.address,
      pool: at.pool,
      slots: at.slots,
      capabilities: at.capabilities,
    }));
  }

  // --- scheduling ------------------------------------------------------------------------------

  /**
   * Offers the idle slots to the listed jobs, oldest first, without waiting: each job not already
   * in an exchange starts one with the slots left (a job reserves its slots before it awaits), so a
   * job busy with a stream of results does not hold the others back. When an exchange ends, the
   * scheduler runs again.
   */
  private kick(): void {
    try {
      for (const job_id of [...this.listed().keys()]) {
        if (this.idleSlots() === 0) break;
        if (!this.busy.has(job_id)) this.pumpThenKick(job_id);
      }
    } catch (err) {
      console.error("dispatcher: scheduling failed", err);
    }
  }

  /** Pumps a job and, if that exchanged anything, offers what is idle again. */
  private pumpThenKick(jobId: string): void {
    void this.pump(jobId).then((exchanged) => {
      if (exchanged) this.kick();
    });
  }

  /**
   * Runs exchanges with one job until it has nothing to say and nothing to lease; at most one
   * exchange per job is in flight, and what arrives meanwhile rides on the next one.
   */
  private async pump(jobId: string): Promise<boolean> {
    if (this.busy.has(jobId)) return false;
    this.busy.add(jobId);
    let exchanged = false;
    try {
      for (;;) {
        const q = this.queued.get(jobId);
        this.queued.delete(jobId);
        // Results, failures and dropped leases change what the job can hand out.
        if (q) this.declined.delete(jobId);
        const epoch = this.listed().get(jobId);
        const listed = epoch === undefined ? undefined : { epoch };
        const slots = listed ? this.reserve(jobId, this.openOf.get(jobId)) : [];
        if (!q && slots.length === 0) break;
        let res: ExchangeOutput;
        exchanged = true;
        try {
          res = await this.env.JOB.get(this.env.JOB.idFromName(jobId)).exchange({
            ...(q?.input ?? {}),
            want: slots.map((s) => ({ address: s.at.address, trust: s.at.trust })),
          });
        } catch (err) {
          console.error(`dispatcher: job ${jobId} unreachable`, err);
          for (const s of slots) s.reserved--;
          if (q) this.requeue(jobId, q);
          await this.wakeAt(Date.now() + RETRY_MS);
          // Not counted as an exchange: the alarm retries, not the scheduler at once.
          exchanged = false;
          break;
        }
        for (const s of slots) s.reserved--;
        // Offer no more places than the job can fill (canaries aside): the rest go to other jobs.
        this.openOf.set(jobId, res.open);
        this.deliver(jobId, res, slots, q);
        // Slots this job did not use (and any freed meanwhile) go to the other jobs now.
        this.kick();
        // `deliver` took the slots it used out of `slots`: the rest were declined.
        const declined = this.declined.get(jobId) ?? new Set<string>();
        for (const s of slots) declined.add(s.at.id);
        this.declined.set(jobId, declined);
        if (listed && !res.more) {
          this.sql.exec("DELETE FROM jobs WHERE job_id = ? AND epoch = ?", jobId, listed.epoch);
          // Unless it was listed again meanwhile (a `notify` during the exchange): then it stays.
          if (this.listed().get(jobId) === listed.epoch) this.listed().delete(jobId);
          this.declined.delete(jobId);
        } else if (!listed && res.more) {
          // What contributors said made new work (a disagreement, a failure): serve it again.
          this.list(jobId);
        }
        if (res.assignments.length === 0 && !this.queued.has(jobId)) break;
      }
    } finally {
      this.busy.delete(jobId);
    }
    return exchanged;
  }

  private deliver(jobId: string, res: ExchangeOutput, slots: Live[], q: Queued | undefined): void {
    const out = new Outgoing(this.liveOf);
    const rows: [string, string, string, string, number][] = [];
    let soonest = Number.POSITIVE_INFINITY;
    for (const a of res.assignments) {
      const i = slots.findIndex((s) => s.at.address === a.address && s.ws.readyState === 1);
      const slot = i >= 0 ? slots.splice(i, 1)[0] : undefined;
      if (!slot) {
        // The socket went away during the exchange: give the lease straight back.
        this.queue(jobId).input.released.push(a.token);
        continue;
      }
      this.open.set(a.token, { socket: slot.at.id, job: jobId, task: a.task_id });
      rows.push([a.token, slot.at.id, jobId, a.task_id, a.deadline]);
      slot.inflight++;
      if (!slot.jobs.has(jobId) && res.spec) {
        out.add(slot.ws, `{"type":"job","job_id":"${jobId}","spec":${res.spec}}`);
        slot.jobs.add(jobId);
        if (slot.jobs.size > 8) slot.jobs.delete(slot.jobs.values().next().value as string);
      }
      out.add(slot.ws, a.frame);
      soonest = Math.min(soonest, a.deadline);
    }
    // The answered leases' marks and the new leases, in the same turn (one commit per exchange).
    this.flushAnswered();
    if (rows.length > 0) {
      this.sql.exec(
        `INSERT INTO leases (token, socket, job_id, task_id, deadline)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?)`,
        JSON.stringify(rows),
      );
      void this.wakeAt(soonest);
    }
    for (const r of res.replies) {
      const ws = q?.replyTo.get(r.token);
      if (ws?.readyState !== 1) continue;
      const frame: ServerFrame = r.ok
        ? { type: "ack", task_id: r.task_id, status: r.status }
        : { type: "error", code: r.code, message: r.message, fatal: false, task_id: r.task_id };
      out.add(ws, JSON.stringify(frame));
    }
    this.sockets(); // builds byAddress after a wake-up
    for (const v of res.verdicts) {
      const live = this.byAddress.get(v.address);
      if (live) out.add(live.ws, JSON.stringify({ type: "verdict", ...v }));
    }
    out.send();
  }

  /** Writes the answered leases' `expired` mark, in one statement. */
  private flushAnswered(): void {
    if (this.answered.size === 0) return;
    const tokens = JSON.stringify([...this.answered]);
    this.answered.clear();
    this.sql.exec(
      "UPDATE leases SET expired = 1 WHERE token IN (SELECT value FROM json_each(?))",
      tokens,
    );
  }

  /** Reserves every idle slot `jobId` has not declined (up to a cap), one entry per slot. */
  private reserve(jobId: string, most = MAX_SLOTS_PER_EXCHANGE): Live[] {
    const out: Live[] = [];
    const cap = Math.min(most, MAX_SLOTS_PER_EXCHANGE);
    const declined = this.declined.get(jobId);
    for (const live of this.sockets().values()) {
      if (declined?.has(live.at.id)) continue;
      let free = capacity(live.at) - live.inflight - live.reserved;
      while (free-- > 0 && out.length < cap) {
        live.reserved++;
        out.push(live);
      }
    }
    return out;
  }

  private idleSlots(): number {
    let n = 0;
    for (const l of this.sockets().values())
      n += Math.max(0, capacity(l.at) - l.inflight - l.reserved);
    return n;
  }

  /** A closed socket's leases go back to their jobs at once. */
  private dropped(ws: WebSocket): void {
    const at = ws.deserializeAttachment() as Attachment | null;
    if (!at) return;
    this.sockets().delete(at.id);
    if (at.state === "ready" && this.byAddress.get(at.address)?.at.id === at.id)
      this.byAddress.delete(at.address);
    this.flushAnswered();
    const leases = this.sql
      .exec<{ token: string; job_id: string; expired: number }>(
        "DELETE FROM leases WHERE socket = ? RETURNING token, job_id, expired",
        at.id,
      )
      .toArray();
    for (const l of leases) {
      this.open.delete(l.token);
      if (l.expired === 0) this.queue(l.job_id).input.released.push(l.token);
    }
    for (const jobId of new Set(leases.map((l) => l.job_id))) void this.pump(jobId);
  }

  private queue(jobId: string): Queued {
    let q = this.queued.get(jobId);
    if (!q) {
      q = { input: { results: [], failures: [], released: [] }, replyTo: new Map() };
      this.queued.set(jobId, q);
    }
    return q;
  }

  private requeue(jobId: string, q: Queued): void {
    const now = this.queue(jobId);
    now.input.results.unshift(...q.input.results);
    now.input.failures.unshift(...q.input.failures);
    now.input.released.unshift(...q.input.released);
    for (const [k, v] of q.replyTo) now.replyTo.set(k, v);
  }

  /** Connected, authenticated sockets, rebuilt from attachments and leases after a wake-up. */
  private sockets(): Map<string, Live> {
    if (this.live) return this.live;
    const inflight = new Map<string, number>();
    for (const l of this.open.values()) inflight.set(l.socket, (inflight.get(l.socket) ?? 0) + 1);
    this.live = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment;
      if (at.state !== "ready") continue;
      const live: Live = {
        ws,
        at,
        inflight: inflight.get(at.id) ?? 0,
        reserved: 0,
        jobs: new Set(),
      };
      this.live.set(at.id, live);
      this.liveOf.set(ws, live);
      this.byAddress.set(at.address, live);
    }
    return this.live;
  }

  private async wakeAt(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at && this.alarmAt > Date.now() - 60_000) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private contributor(address: string) {
    return this.env.CONTRIBUTOR.get(this.env.CONTRIBUTOR.idFromName(address));
  }

  private get sql() {
    return this.ctx.storage.sql;
  }
}

function parse(message: string | ArrayBuffer): ClientFrame | null {
  if (typeof message !== "string") return null;
  try {
    const result = ClientFrame.safeParse(JSON.parse(message));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

/**
 * Frames for several sockets, gathered while an exchange's answer is handed out and sent at the
 * end: a socket that speaks batches gets one `batch` frame, any other its frames one by one.
 */
class Outgoing {
  private readonly frames = new Map<WebSocket, string[]>();
  constructor(private readonly liveOf: WeakMap<WebSocket, Live>) {}

  add(ws: WebSocket, frame: string): void {
    const list = this.frames.get(ws);
    if (list) list.push(frame);
    else this.frames.set(ws, [frame]);
  }

  send(): void {
    for (const [ws, frames] of this.frames) {
      if (ws.readyState !== 1) continue;
      if (frames.length > 1 && (this.liveOf.get(ws)?.at.batch ?? 1) > 1)
        ws.send(`{"type":"batch","frames":[${frames.join(",")}]}`);
      else for (const f of frames) ws.send(f);
    }
  }
}

function send(ws: WebSocket, frame: ServerFrame): void {
  ws.send(JSON.stringify(frame));
}

function fail(
  ws: WebSocket,
  code: ProtocolErrorCode,
  message: string,
  fatal: boolean,
  taskId?: string,
): void {
  send(ws, { type: "error", code, message, fatal, ...(taskId ? { task_id: taskId } : {}) });
  if (fatal) ws.close(POLICY_VIOLATION, code);
}
