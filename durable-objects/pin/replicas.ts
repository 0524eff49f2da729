import type { Micros } from "../../protocol/money.ts";
import { Assignment, type Challenge } from "../../protocol/providers.ts";
import { config } from "../../workers/config.ts";
import type { Env } from "../../workers/env.ts";
import { judge, randomChunk } from "../providers/challenge.ts";
import { periodPay } from "../providers/pay.ts";
import type { ChosenProvider } from "../providers/providers.ts";
import { dropStagingCopy } from "../providers/staging.ts";
import { one } from "../sql.ts";

/**
 * A pin's replicas on storage providers (issue 8, part B): placement, challenges, repair and
 * provider pay. The `Pin` object (part A) owns one `Replicas` over its own SQLite:
 *
 *   - append `REPLICA_MIGRATIONS` to its migrations (never edit them: changes come as new
 *     entries at the end of the list);
 *   - `place(content, want, now)` once the content is known (cid, BLAKE3 of the file bytes, size);
 *   - from its alarm, `tick(now)`: returns when to wake next (ms since the epoch) or null;
 *   - `healthy()` counts replicas whose last challenge passed: the pin is `pinned` when it reaches
 *     `want`, `pinning` before; `providersAvailable()` says whether placement can ever succeed
 *     (0 → the Pin may fail the pin with a reason);
 *   - `view()` for the API, `release(now)` on unpin.
 *
 * Replica states: `assigned` (the provider is fetching; challenged, `fetching` tolerated until
 * `REPLICA_FETCH_SECONDS`), `proven` (last challenge passed), `bad` (a challenge failed or was
 * missed: repaired elsewhere, never challenged again) and `released`.
 *
 * Challenges (every `CHALLENGE_INTERVAL_SECONDS` per replica): a crypto-random 1 KiB chunk index,
 * answered over HTTP within `CHALLENGE_DEADLINE_SECONDS` with the chunk and a
 * `proveFromOutboard` proof, checked with `verify` against the stored BLAKE3 root
 * (`providers/challenge.ts`). Pay: each passed challenge pays the period since the previous one,
 * `size × time × PROVIDER_PRICE_GIB_HOUR_MICROS` (fractions carried), through the Treasury
 * (`payProvider`: out of metered storage revenue), op id `store:<pin>:<provider>:<period start>`.
 * A failed challenge pays nothing for its period, slashes a staked provider (the Contributor's
 * slashing, op id `slash:store:<pin>:<provider>:<at>`) and places a new replica elsewhere.
 *
 * `R2_STAGING_TTL_SECONDS` > 0: once every replica is proven for that long, `tick` deletes the
 * content's R2 copy (blocks nobody else owns) and the gateway reads it from the providers.
 *
 * Note for the Pin: `REPLICA_MIGRATIONS` is applied after `PIN_MIGRATIONS` by count, so a new
 * Pin migration must not be inserted before them once databases exist; if both lists must grow,
 * give each its own version table (or append Pin migrations after these).
 */
export const REPLICA_MIGRATIONS: string[] = [
  `CREATE TABLE replica_content (
     id           INTEGER PRIMARY KEY CHECK (id = 1),
     cid          TEXT NOT NULL,
     blake3       TEXT NOT NULL,
     size         INTEGER NOT NULL CHECK (size >= 0),
     want         INTEGER NOT NULL CHECK (want >= 1),
     placed_at    INTEGER NOT NULL,
     released_at  INTEGER
   );
   CREATE TABLE replicas (
     provider           TEXT PRIMARY KEY,
     url                TEXT NOT NULL,
     status             TEXT NOT NULL CHECK (status IN ('assigned', 'proven', 'bad', 'released')),
     assigned_at        INTEGER NOT NULL,
     next_challenge_at  INTEGER NOT NULL,
     last_proven_at     INTEGER,
     paid_until         INTEGER,
     pay_remainder      TEXT NOT NULL DEFAULT '0',
     failure            TEXT
   );
   -- What happened to each replica, oldest first: challenges, pay, slashes, repairs.
   CREATE TABLE replica_events (
     seq       INTEGER PRIMARY KEY AUTOINCREMENT,
     provider  TEXT NOT NULL,
     at        INTEGER NOT NULL,
     kind      TEXT NOT NULL CHECK (kind IN ('assigned', 'proven', 'failed', 'paid', 'unpaid',
                                             'slashed', 'released')),
     amount    INTEGER,
     op_id     TEXT,
     detail    TEXT
   );`,
];

/** How soon a fetching replica is asked again. */
const FETCH_POLL_MS = 2_000;

interface ContentRow extends Record<string, SqlStorageValue> {
  cid: string;
  blake3: string;
  size: number;
  want: number;
  placed_at: number;
  released_at: number | null;
}

export interface ReplicaRow extends Record<string, SqlStorageValue> {
  provider: string;
  url: string;
  status: "assigned" | "proven" | "bad" | "released";
  assigned_at: number;
  next_challenge_at: number;
  last_proven_at: number | null;
  paid_until: number | null;
  pay_remainder: string;
  failure: string | null;
}

export interface ReplicaEvent extends Record<string, SqlStorageValue> {
  seq: number;
  provider: string;
  at: number;
  kind: string;
  amount: number | null;
  op_id: string | null;
  detail: string | null;
}

export class Replicas {
  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly pinId: string,
  ) {}

  /** Places `want` replicas of `content` on distinct providers with room; idempotent. */
  async place(
    content: { cid: string; blake3: string; size: number },
    want: number,
    now: number,
  ): Promise<void> {
    this.sql.exec(
      `INSERT OR IGNORE INTO replica_content (id, cid, blake3, size, want, placed_at)
       VALUES (1, ?, ?, ?, ?, ?)`,
      content.cid,
      content.blake3.toLowerCase(),
      content.size,
      want,
      now,
    );
    await this.fill(now);
  }

  /**
   * Challenges every replica that is due, repairs what failed, pays what was proven. Returns
   * when the next challenge is due, or null when nothing is left to watch.
   */
  async tick(now: number): Promise<number | null> {
    const content = this.content();
    if (!content || content.released_at !== null) return null;
    const due = this.sql
      .exec<ReplicaRow>(
        "SELECT * FROM replicas WHERE status IN ('assigned', 'proven') AND next_challenge_at <= ?",
        now,
      )
      .toArray();
    // A provider that restarted elsewhere re-registered its new URL: challenge it there.
    const contacts: Record<string, ChosenProvider> = due.length
      ? await this.providers().contacts(due.map((r) => r.provider))
      : {};
    for (const r of due) {
      const url = contacts[r.provider]?.url;
      if (url && url !== r.url) {
        this.sql.exec("UPDATE replicas SET url = ? WHERE provider = ?", url, r.provider);
        r.url = url;
      }
    }
    await Promise.all(
      due.map((r) => this.challenge(content, r, contacts[r.provider]?.token ?? "", now)),
    );
    await this.fill(now);
    const next = one<{ t: number | null }>(
      this.sql,
      "SELECT MIN(next_challenge_at) AS t FROM replicas WHERE status IN ('assigned', 'proven')",
    )?.t;
    const missing = content.want - this.live();
    // Too few providers for a repair: look again after one interval.
    const retry = missing > 0 ? now + this.settings().challengeIntervalMs : null;
    const staging = await this.endStaging(content, now);
    const candidates = [next ?? null, retry, staging].filter((t): t is number => t !== null);
    return candidates.length ? Math.min(...candidates) : null;
  }

  /** Replicas holding the data whose last challenge passed. */
  healthy(): number {
    return (
      one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM replicas WHERE status = 'proven'")
        ?.n ?? 0
    );
  }

  /** Live providers with room for this pin's content (all live providers before `place`). */
  async providersAvailable(): Promise<number> {
    const size = this.content()?.size ?? 0;
    return this.providers().available(size, Date.now());
  }

  view(): { provider: string; status: string; last_proven_at: number | null }[] {
    return this.sql
      .exec<{ provider: string; status: string; last_proven_at: number | null }>(
        "SELECT provider, status, last_proven_at FROM replicas ORDER BY assigned_at, provider",
      )
      .toArray();
  }

  /** Everything that happened to the replicas, oldest first (challenges, pay, slashes). */
  events(): ReplicaEvent[] {
    return this.sql.exec<ReplicaEvent>("SELECT * FROM replica_events ORDER BY seq").toArray();
  }

  /** Unpin: providers are told to drop the content (best effort) and are paid no further. */
  async release(now: number): Promise<void> {
    const content = this.content();
    if (!content || content.released_at !== null) return;
    this.sql.exec("UPDATE replica_content SET released_at = ?", now);
    const live = this.sql
      .exec<ReplicaRow>("SELECT * FROM replicas WHERE status IN ('assigned', 'proven')")
      .toArray();
    this.sql.exec("UPDATE replicas SET status = 'released' WHERE status IN ('assigned', 'proven')");
    for (const r of live) this.event(r.provider, now, "released");
    await Promise.all(live.map((r) => this.drop(content, r)));
  }

  // ---- placement and repair ----

  /** Live replicas (assigned or proven). */
  private live(): number {
    return (
      one<{ n: number }>(
        this.sql,
        "SELECT COUNT(*) AS n FROM replicas WHERE status IN ('assigned', 'proven')",
      )?.n ?? 0
    );
  }

  /** Places replicas until `want` are live, on providers this pin never used. */
  private async fill(now: number): Promise<void> {
    const content = this.content();
    if (!content || content.released_at !== null) return;
    const missing = content.want - this.live();
    if (missing <= 0) return;
    const used = this.sql
      .exec<{ provider: string }>("SELECT provider FROM replicas")
      .toArray()
      .map((r) => r.provider);
    const chosen = await this.providers().choose(missing, content.size, used, now);
    for (const p of chosen) {
      this.sql.exec(
        `INSERT INTO replicas (provider, url, status, assigned_at, next_challenge_at)
         VALUES (?, ?, 'assigned', ?, ?)`,
        p.address,
        p.url,
        now,
        now + Math.min(FETCH_POLL_MS, this.settings().challengeIntervalMs),
      );
      this.event(p.address, now, "assigned", null, null, used.length ? "repair" : "placement");
    }
    await Promise.all(chosen.map((p) => this.assign(content, p)));
  }

  /** Tells a provider to fetch the content; an unreachable one fails its first challenge. */
  private async assign(content: ContentRow, p: ChosenProvider): Promise<void> {
    const body: Assignment = Assignment.parse({
      cid: content.cid,
      blake3: content.blake3,
      size: content.size,
      ...(this.settings().publicUrl ? { gateway: this.settings().publicUrl } : {}),
    });
    try {
      const res = await fetch(new URL("/assignments", p.url), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${p.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.settings().challengeDeadlineMs),
      });
      await res.body?.cancel();
    } catch (err) {
      console.warn(`replicas ${this.pinId}: assigning to ${p.address} failed: ${err}`);
    }
  }

  private async drop(content: ContentRow, r: ReplicaRow): Promise<void> {
    const providers = this.providers();
    await providers.unreserve(r.provider, content.size, content.cid);
    const contact = (await providers.contacts([r.provider]))[r.provider];
    try {
      const res = await fetch(new URL(`/assignments/${content.cid}`, contact?.url ?? r.url), {
        method: "DELETE",
        headers: { authorization: `Bearer ${contact?.token ?? ""}` },
        signal: AbortSignal.timeout(this.settings().challengeDeadlineMs),
      });
      await res.body?.cancel();
    } catch (err) {
      console.warn(`replicas ${this.pinId}: dropping at ${r.provider} failed: ${err}`);
    }
  }

  // ---- challenges ----

  private async challenge(
    content: ContentRow,
    r: ReplicaRow,
    token: string,
    now: number,
  ): Promise<void> {
    const s = this.settings();
    const chunk = randomChunk(content.size);
    const request: Challenge = { cid: content.cid, chunk };
    let answer: unknown = null;
    const sentAt = Date.now();
    try {
      const res = await fetch(new URL("/challenges", r.url), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(s.challengeDeadlineMs),
      });
      answer = await res.json();
    } catch (err) {
      // No answer in time (the fetch's timeout is the deadline), or none at all: missed.
      answer = { status: "missing", detail: String(err) };
    }
    // A Worker's clock moves on at I/O, so this is when the answer had fully arrived.
    const verdict = await judge(
      content,
      { chunk, sentAt },
      answer,
      Date.now(),
      s.challengeDeadlineMs,
    );
    if (verdict.ok) return this.passed(content, r, now);
    if (verdict.pending && now < r.assigned_at + s.fetchTimeoutMs) {
      this.sql.exec(
        "UPDATE replicas SET next_challenge_at = ? WHERE provider = ?",
        now + Math.min(FETCH_POLL_MS, s.challengeIntervalMs),
        r.provider,
      );
      return;
    }
    const reason = verdict.pending ? "fetch_timeout" : verdict.reason;
    await this.failed(content, r, now, `chunk ${chunk}: ${reason}`);
  }

  private async passed(content: ContentRow, r: ReplicaRow, now: number): Promise<void> {
    const s = this.settings();
    this.sql.exec(
      `UPDATE replicas SET status = 'proven', last_proven_at = ?, next_challenge_at = ?,
         paid_until = COALESCE(paid_until, ?) WHERE provider = ?`,
      now,
      now + s.challengeIntervalMs,
      now,
      r.provider,
    );
    this.event(r.provider, now, "proven");
    await this.providers().proven(r.provider, content.cid, true);
    if (r.paid_until !== null && now > r.paid_until) await this.pay(content, r, r.paid_until, now);
  }

  /** Pays the proven period [from, to), carrying fractions of a base unit to the next period. */
  private async pay(content: ContentRow, r: ReplicaRow, from: number, to: number): Promise<void> {
    const { amount, remainder } = periodPay(
      content.size,
      to - from,
      this.settings().providerPrice,
      r.pay_remainder,
    );
    const opId = `store:${this.pinId}:${r.provider}:${from}`;
    this.sql.exec(
      "UPDATE replicas SET paid_until = ?, pay_remainder = ? WHERE provider = ?",
      to,
      remainder,
      r.provider,
    );
    const treasury = this.env.TREASURY.get(this.env.TREASURY.idFromName("treasury"));
    const paid =
      amount > 0 ? await treasury.payProvider(opId, r.provider, this.pinId, amount as Micros) : 0;
    this.event(r.provider, to, "paid", paid, opId, `${from}..${to} owed ${amount}`);
  }

  private async failed(content: ContentRow, r: ReplicaRow, now: number, why: string) {
    this.sql.exec(
      "UPDATE replicas SET status = 'bad', failure = ? WHERE provider = ?",
      why,
      r.provider,
    );
    this.event(r.provider, now, "failed", null, null, why);
    if (r.paid_until !== null) {
      this.event(r.provider, now, "unpaid", 0, null, `${r.paid_until}..${now}`);
    }
    const contributor = this.env.CONTRIBUTOR.get(this.env.CONTRIBUTOR.idFromName(r.provider));
    const opId = `slash:store:${this.pinId}:${r.provider}:${now}`;
    try {
      const after = await contributor.record(r.provider, opId, {
        jobId: `pin:${this.pinId}`,
        earned: 0 as Micros,
        accepted: 0,
        rejected: 1,
      });
      this.event(r.provider, now, "slashed", after.stake.slashed, opId, why);
    } catch (err) {
      console.error(`replicas ${this.pinId}: slashing ${r.provider} failed: ${err}`);
    }
    await this.providers().proven(r.provider, content.cid, false);
    await this.drop(content, r);
  }

  /**
   * `R2_STAGING_TTL_SECONDS`: once `want` replicas are proven and the newest of them was placed
   * a TTL ago, the R2 copy goes (`providers/staging.ts`) and the gateway reads from providers.
   * Returns when to look again while that is still ahead.
   */
  private async endStaging(content: ContentRow, now: number): Promise<number | null> {
    const ttl = this.settings().stagingTtlMs;
    if (ttl <= 0 || this.healthy() < content.want) return null;
    const newest =
      one<{ t: number }>(
        this.sql,
        "SELECT MAX(assigned_at) AS t FROM replicas WHERE status = 'proven'",
      )?.t ?? now;
    if (now < newest + ttl) return newest + ttl;
    try {
      const deleted = await dropStagingCopy(this.env, content.cid);
      if (deleted > 0)
        console.log(
          `replicas ${this.pinId}: R2 copy of ${content.cid} dropped (${deleted} blocks)`,
        );
    } catch (err) {
      console.warn(`replicas ${this.pinId}: dropping the R2 copy failed, retrying: ${err}`);
      return now + this.settings().challengeIntervalMs;
    }
    return null;
  }

  // ---- plumbing ----

  private content(): ContentRow | undefined {
    return one<ContentRow>(this.sql, "SELECT * FROM replica_content WHERE id = 1");
  }

  private providers() {
    return this.env.PROVIDERS.get(this.env.PROVIDERS.idFromName("providers"));
  }

  private settings() {
    return config(this.env).storageProviders;
  }

  private event(
    provider: string,
    at: number,
    kind: string,
    amount: number | null = null,
    opId: string | null = null,
    detail: string | null = null,
  ) {
    this.sql.exec(
      "INSERT INTO replica_events (provider, at, kind, amount, op_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
      provider,
      at,
      kind,
      amount,
      opId,
      detail,
    );
  }
}
