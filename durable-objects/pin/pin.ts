import { DurableObject } from "cloudflare:workers";
import { CID } from "multiformats/cid";
import type { AccountId } from "../../protocol/ids.ts";
import { config } from "../../workers/config.ts";
import type { Env } from "../../workers/env.ts";
import { Upstreams } from "../../workers/gateway/upstream.ts";
import { BlockNotFound, VerifiedBlocks } from "../../workers/gateway/verified-blocks.ts";
import type { PinRow, PinState } from "../account/pins.ts";
import { migrate, one } from "../sql.ts";
import { BlockStore, blockKey } from "../storage/blocks.ts";
import { BlockWriter, manifestKey, releaseUpload } from "../storage/writer.ts";
import { type ContentSummary, linksOf, summarize, UnwalkableCodec } from "./dag.ts";
import { importIntoKubo } from "./kubo.ts";
import { classifyOrigin } from "./origins.ts";
import { REPLICA_MIGRATIONS, Replicas } from "./replicas.ts";

/**
 * One pin request of the IPFS Pinning Service API, addressed by its request id
 * (`idFromName(requestid)`). It fetches the content (unless its account already stores it),
 * verifying every block against its CID, stores it in R2 through the block writer, records it as
 * an upload of the account (so storage is metered and billed like an upload), places replicas on
 * storage providers (`Replicas`, part B of issue 8) and reports its state to the account's pin
 * index.
 *
 * Lifecycle: `queued` (created, no work done yet) → `pinning` (fetching, or stored and waiting
 * for replicas) → `pinned` (stored, and `healthy() >= min(want, providers available)`; with no
 * providers, as soon as it is stored) or `failed` (a reason in `info.failure_reason`). A pin whose
 * content is not stored within `PIN_FETCH_TIMEOUT_SECONDS` of its creation fails: it never stays
 * `queued` or `pinning` forever for want of content. All work runs in the alarm, a bounded step
 * at a time, with progress (blocks, bytes) in the `pin` row and the walk's frontier in `queue`.
 */
export const PIN_MIGRATIONS: string[] = [
  `CREATE TABLE pin (
     id            INTEGER PRIMARY KEY CHECK (id = 1),
     requestid     TEXT NOT NULL,
     account       TEXT NOT NULL,
     key_id        TEXT,
     cid           TEXT NOT NULL,
     name          TEXT,
     origins       TEXT NOT NULL,
     meta          TEXT NOT NULL,
     status        TEXT NOT NULL CHECK (status IN ('queued', 'pinning', 'pinned', 'failed')),
     failure       TEXT,
     last_error    TEXT,
     created_at    INTEGER NOT NULL,
     deadline      INTEGER NOT NULL,
     upload_id     TEXT NOT NULL,
     stored        INTEGER NOT NULL DEFAULT 0,
     kind          TEXT,
     size          INTEGER,
     blake3        TEXT,
     placed        INTEGER NOT NULL DEFAULT 0,
     replicas      INTEGER NOT NULL DEFAULT 0,
     blocks        INTEGER NOT NULL DEFAULT 0,
     bytes         INTEGER NOT NULL DEFAULT 0,
     kubo          TEXT NOT NULL DEFAULT 'off' CHECK (kubo IN ('off', 'pending', 'done')),
     kubo_next_at  INTEGER,
     kubo_tries    INTEGER NOT NULL DEFAULT 0,
     removed       INTEGER NOT NULL DEFAULT 0,
     version       INTEGER NOT NULL DEFAULT 1,
     reported      INTEGER NOT NULL DEFAULT 0
   );
   -- The walk's frontier: blocks still to fetch.
   CREATE TABLE queue (cid TEXT PRIMARY KEY);
   -- Blocks registered to this pin's upload id (its manifest once complete).
   CREATE TABLE blocks (key TEXT PRIMARY KEY, size INTEGER NOT NULL);`,
];

/** What one alarm step fetches at most before yielding (the next alarm continues at once). */
const STEP_MS = 20_000;
const BATCH = 16;
/** Pause before asking the sources again when a block was not found anywhere. */
const RETRY_MS = 5_000;
/** The Kubo bridge retries after 5 s, doubling up to an hour. */
const KUBO_RETRY_MS = 5_000;
const KUBO_RETRY_MAX_MS = 3_600_000;

export interface NewPin {
  requestid: string;
  account: AccountId;
  keyId: string | null;
  cid: string;
  name: string | null;
  origins: string[];
  meta: Record<string, string>;
}

interface Row extends Record<string, SqlStorageValue> {
  requestid: string;
  account: string;
  key_id: string | null;
  cid: string;
  name: string | null;
  origins: string;
  meta: string;
  status: PinState;
  failure: string | null;
  last_error: string | null;
  created_at: number;
  deadline: number;
  upload_id: string;
  stored: number;
  kind: ContentSummary["kind"] | null;
  size: number | null;
  blake3: string | null;
  placed: number;
  replicas: number;
  blocks: number;
  bytes: number;
  kubo: "off" | "pending" | "done";
  kubo_next_at: number | null;
  kubo_tries: number;
  removed: number;
  version: number;
  reported: number;
}

export class Pin extends DurableObject<Env> {
  private readonly replicas: Replicas;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () =>
      migrate(ctx.storage, [...PIN_MIGRATIONS, ...REPLICA_MIGRATIONS]),
    );
    this.replicas = new Replicas(ctx.storage.sql, env, ctx.id.name ?? ctx.id.toString());
  }

  /**
   * Creates the pin (a repeat with the same request id answers the existing one). Content the
   * account already stores is taken as stored at once, so with no providers to wait for the
   * answer is already `pinned`.
   */
  async create(input: NewPin, uploadId: string, now = Date.now()): Promise<PinRow> {
    if (!this.row()) {
      const settings = config(this.env).pins;
      this.sql.exec(
        `INSERT INTO pin (id, requestid, account, key_id, cid, name, origins, meta, status,
           created_at, deadline, upload_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
        input.requestid,
        input.account,
        input.keyId,
        input.cid,
        input.name,
        JSON.stringify(input.origins),
        JSON.stringify(input.meta),
        now,
        now + settings.fetchTimeoutMs,
        uploadId,
      );
      this.sql.exec("INSERT INTO queue (cid) VALUES (?)", input.cid);
      const held = await this.account(input.account).getUpload(uploadCid(input.cid));
      if (held) {
        this.sql.exec(
          "UPDATE pin SET stored = 1, kind = ?, size = ?, blake3 = ?, blocks = ?, bytes = ? WHERE id = 1",
          held.kind,
          held.size,
          held.blake3,
          held.blocks,
          held.dag_size,
        );
        this.sql.exec("DELETE FROM queue");
        await this.settle(this.mustRow(), now);
      }
      await this.report();
      await this.ctx.storage.setAlarm(now);
    }
    return this.indexRow(this.mustRow());
  }

  /** The pin as its account sees it, or `undefined` when it is not this account's (or gone). */
  view(account: string): PinRow | undefined {
    const row = this.row();
    return row && row.account === account && !row.removed ? this.indexRow(row) : undefined;
  }

  /**
   * Unpins: releases the replicas, the blocks of an unfinished fetch, and (through the account)
   * the upload the pin created once no other pin of that content is left. Every step may run
   * again, so a retry after a crash finishes the job. Answers false when the pin is not the
   * account's.
   */
  async remove(account: string, now = Date.now()): Promise<boolean> {
    const row = this.row();
    if (!row || row.account !== account || row.removed) return false;
    // No alarm step may run alongside (it could record the upload or re-file the index row).
    this.removing = true;
    try {
      await this.running?.catch(() => undefined);
      const current = this.mustRow();
      await this.replicas.release(now);
      if (!current.stored) await this.releaseFetched(current);
      const released = await this.account(row.account).dropPin(row.requestid, uploadCid(row.cid));
      if (released) await releaseUpload(this.env, released);
      this.sql.exec("UPDATE pin SET removed = 1, version = version + 1 WHERE id = 1");
      await this.ctx.storage.deleteAlarm();
      return true;
    } finally {
      // Removed for good, or failed part-way: a retry of the DELETE runs every step again.
      this.removing = false;
    }
  }

  override async alarm(): Promise<void> {
    // One step at a time: an alarm run while another is still awaiting joins it.
    this.running ??= this.step().finally(() => {
      this.running = null;
    });
    await this.running;
  }

  private running: Promise<void> | null = null;
  private removing = false;

  private async step(): Promise<void> {
    let row = this.row();
    if (!row || row.removed || this.removing || row.status === "failed") return;
    const now = Date.now();
    let next: number | null = null;
    try {
      if (!row.stored) next = await this.fetchStep(row, now);
      row = this.mustRow();
      if (row.stored && row.status !== "failed" && !row.removed) {
        next = earliest(next, await this.settle(row, now));
      }
    } catch (err) {
      // Caught rather than left to the runtime's few alarm retries, so a pin that keeps failing
      // still reaches its deadline and ends `failed`, never stuck `pinning`.
      const message = err instanceof Error ? err.message : String(err);
      console.error(`pin ${row.requestid}: step failed: ${message}`);
      const current = this.mustRow();
      this.sql.exec("UPDATE pin SET last_error = ? WHERE id = 1", message.slice(0, 500));
      next = current.stored ? now + RETRY_MS : Math.min(now + RETRY_MS, current.deadline);
    }
    await this.report();
    if (this.row()?.reported !== this.row()?.version) next = earliest(next, now + RETRY_MS);
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  // --- fetching ------------------------------------------------------------------------------

  /** Fetches and stores one bounded batch of the DAG; finishes the upload when nothing is left. */
  private async fetchStep(row: Row, now: number): Promise<number | null> {
    const settings = config(this.env).pins;
    if (now >= row.deadline) {
      const why = row.last_error ? `: ${row.last_error}` : "";
      await this.fail(
        row,
        `content not fetched within PIN_FETCH_TIMEOUT_SECONDS (${settings.fetchTimeoutMs / 1000} s)${why}`,
      );
      return null;
    }
    this.setStatus("pinning");
    const origins = this.sources(row);
    const blocks = new VerifiedBlocks(new BlockStore(this.env.BLOCKS), new Upstreams(origins));
    const writer = new BlockWriter(this.env, row.upload_id);
    const started = Date.now();
    let missing: string | undefined;
    try {
      while (Date.now() - started < STEP_MS && !missing) {
        const batch = this.sql
          .exec<{ cid: string }>("SELECT cid FROM queue LIMIT ?", BATCH)
          .toArray()
          .map((r) => CID.parse(r.cid));
        if (batch.length === 0) break;
        const got = await Promise.all(batch.map((cid) => fetchVerified(blocks, cid)));
        const done: { cid: CID; bytes: Uint8Array; links: CID[] }[] = [];
        for (const [i, cid] of batch.entries()) {
          const bytes = got[i];
          if (!bytes) {
            missing ??= cid.toString();
            continue;
          }
          done.push({ cid, bytes, links: linksOf(cid, bytes) });
        }
        // Registered (so a later release finds them) before the writer puts them in R2.
        for (const b of done) {
          this.sql.exec(
            "INSERT OR IGNORE INTO blocks (key, size) VALUES (?, ?)",
            blockKey(b.cid),
            b.bytes.length,
          );
          await writer.put(b.cid, b.bytes);
        }
        await writer.flush();
        this.ctx.storage.transactionSync(() => {
          for (const b of done) {
            this.sql.exec("DELETE FROM queue WHERE cid = ?", b.cid.toString());
            for (const link of b.links) {
              if (link.multihash.code === 0) continue; // identity: the CID holds the bytes
              const known = one(
                this.sql,
                "SELECT 1 AS x FROM blocks WHERE key = ?",
                blockKey(link),
              );
              if (!known)
                this.sql.exec("INSERT OR IGNORE INTO queue (cid) VALUES (?)", link.toString());
            }
          }
          this.sql.exec(
            `UPDATE pin SET blocks = (SELECT COUNT(*) FROM blocks),
               bytes = (SELECT COALESCE(SUM(size), 0) FROM blocks) WHERE id = 1`,
          );
        });
      }
    } catch (err) {
      if (err instanceof UnwalkableCodec) {
        await this.releaseFetched(row);
        await this.fail(row, err.message);
        return null;
      }
      throw err;
    }
    if (missing) {
      const tried = origins.length
        ? `not found or not verified at ${origins.join(", ")}`
        : "no usable origin or upstream gateway to fetch it from";
      const error = `block ${missing} ${tried}`;
      this.sql.exec("UPDATE pin SET last_error = ? WHERE id = 1", error);
      if (origins.length === 0) {
        await this.releaseFetched(row);
        await this.fail(row, error);
        return null;
      }
      return Math.min(now + RETRY_MS, row.deadline);
    }
    const left = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM queue")?.n ?? 0;
    if (left > 0) return Date.now();
    await this.finishUpload(this.mustRow());
    return null;
  }

  /** Trustless gateways to ask: the pin's usable origins first, then `GATEWAY_UPSTREAMS`. */
  private sources(row: Row): string[] {
    const settings = config(this.env);
    const origins: string[] = [];
    for (const o of JSON.parse(row.origins) as string[]) {
      const v = classifyOrigin(o, settings.pins.allowLoopbackOrigins);
      if (v.kind === "http") origins.push(v.origin);
    }
    return [...new Set([...origins, ...settings.gatewayUpstreams])];
  }

  /** The whole DAG is in R2: record it as the account's upload (metered from now on). */
  private async finishUpload(row: Row): Promise<void> {
    const keys = this.sql
      .exec<{ key: string }>("SELECT key FROM blocks ORDER BY key")
      .toArray()
      .map((r) => r.key);
    await this.env.BLOCKS.put(manifestKey(row.upload_id), keys.join("\n"));
    const store = new VerifiedBlocks(new BlockStore(this.env.BLOCKS));
    const summary = await summarize(CID.parse(row.cid), (cid) => store.get(cid));
    if (this.row()?.removed) return releaseUpload(this.env, row.upload_id);
    const account = this.account(row.account);
    const cid = uploadCid(row.cid);
    const outcome = await account.recordUpload(
      {
        cid,
        upload_id: row.upload_id,
        name: row.name,
        kind: summary.kind,
        size: summary.size,
        dag_size: row.bytes,
        blocks: row.blocks,
        blake3: summary.blake3,
      },
      config(this.env).storageQuotaBytes,
      row.key_id ?? undefined,
    );
    if (!outcome.ok) {
      await releaseUpload(this.env, row.upload_id);
      await this.fail(row, outcome.detail);
      return;
    }
    if (outcome.created) await account.markPinnedUpload(row.upload_id, cid);
    // Already held (stored meanwhile by an upload or another pin): that record stands.
    else await releaseUpload(this.env, row.upload_id);
    this.sql.exec(
      "UPDATE pin SET stored = 1, kind = ?, size = ?, blake3 = ?, last_error = NULL WHERE id = 1",
      summary.kind,
      summary.size,
      summary.blake3,
    );
  }

  /** Gives back blocks an unfinished fetch registered (those no one else holds are deleted). */
  private async releaseFetched(row: Row): Promise<void> {
    const keys = this.sql.exec<{ key: string }>("SELECT key FROM blocks").toArray();
    if (keys.length === 0) return;
    await this.env.BLOCKS.put(manifestKey(row.upload_id), keys.map((r) => r.key).join("\n"));
    await releaseUpload(this.env, row.upload_id);
    this.sql.exec("DELETE FROM blocks");
  }

  // --- once stored ---------------------------------------------------------------------------

  /**
   * Places replicas (once), runs their schedule, and sets `pinned` or `pinning` from how many
   * are healthy; imports into Kubo when configured. Answers when to wake next.
   */
  private async settle(row: Row, now: number): Promise<number | null> {
    const settings = config(this.env).pins;
    let { blake3, size } = row;
    if (!blake3 || size === null) {
      // Held as an upload without a BLAKE3 root (a CAR upload): compute it from R2.
      const store = new VerifiedBlocks(new BlockStore(this.env.BLOCKS));
      const summary = await summarize(CID.parse(row.cid), (cid) => store.get(cid));
      ({ blake3, size } = summary);
      this.sql.exec("UPDATE pin SET blake3 = ?, size = ? WHERE id = 1", blake3, size);
    }
    if (!row.placed) {
      await this.replicas.place({ cid: uploadCid(row.cid), blake3, size }, settings.replicas, now);
      this.sql.exec("UPDATE pin SET placed = 1 WHERE id = 1");
    }
    let next = await this.replicas.tick(now);
    const available = await this.replicas.providersAvailable();
    const healthy = this.replicas.healthy();
    const pinned = healthy >= Math.min(settings.replicas, available);
    this.sql.exec("UPDATE pin SET replicas = ? WHERE id = 1", healthy);
    this.setStatus(pinned ? "pinned" : "pinning", healthy !== row.replicas);
    // The account's index learns the new state before any slower work (the Kubo import).
    await this.report();
    if (pinned && settings.kuboRpcUrl && row.kubo !== "done") {
      next = earliest(next, await this.kubo(row, settings.kuboRpcUrl, now));
    }
    return next;
  }

  /** The optional Kubo bridge: never fails the pin; retried until Kubo takes the CAR. */
  private async kubo(row: Row, url: string, now: number): Promise<number | null> {
    if (row.kubo_next_at !== null && now < row.kubo_next_at) return row.kubo_next_at;
    const store = new VerifiedBlocks(new BlockStore(this.env.BLOCKS));
    const error = await importIntoKubo(url, CID.parse(row.cid), store);
    if (!error) {
      this.sql.exec("UPDATE pin SET kubo = 'done', kubo_next_at = NULL WHERE id = 1");
      return null;
    }
    const at = now + Math.min(KUBO_RETRY_MS * 2 ** row.kubo_tries, KUBO_RETRY_MAX_MS);
    console.warn(`pin ${row.requestid}: Kubo import failed, retrying in ${at - now} ms: ${error}`);
    this.sql.exec(
      "UPDATE pin SET kubo = 'pending', kubo_next_at = ?, kubo_tries = kubo_tries + 1 WHERE id = 1",
      at,
    );
    return at;
  }

  // --- state ---------------------------------------------------------------------------------

  private async fail(row: Row, reason: string): Promise<void> {
    this.sql.exec(
      "UPDATE pin SET status = 'failed', failure = ?, version = version + 1 WHERE id = 1",
      reason.slice(0, 1000),
    );
    if (row.stored) await this.replicas.release(Date.now());
  }

  /** Sets the status; a change (or `force`, for new progress worth reporting) bumps the version. */
  private setStatus(status: PinState, force = false): void {
    this.sql.exec(
      "UPDATE pin SET status = ?, version = version + 1 WHERE id = 1 AND (status != ? OR ?)",
      status,
      status,
      force ? 1 : 0,
    );
  }

  /** Sends the current state to the account's index unless it already has this version. */
  private async report(): Promise<void> {
    const row = this.row();
    if (!row || row.removed || row.reported >= row.version) return;
    await this.account(row.account).putPin(this.indexRow(row));
    this.sql.exec("UPDATE pin SET reported = ? WHERE id = 1", row.version);
  }

  private indexRow(row: Row): PinRow {
    const info: Record<string, string> = {};
    if (row.status === "failed") info.failure_reason = row.failure ?? "unknown";
    if (row.status === "queued") info.status_details = "waiting to start";
    if (row.status === "pinning") {
      info.status_details = row.stored
        ? `stored; ${row.replicas} healthy replica(s) on storage providers so far`
        : `fetched ${row.blocks} block(s), ${row.bytes} bytes${row.last_error ? `; last error: ${row.last_error}` : ""}`;
    }
    if (row.stored) info.replicas = String(row.replicas);
    return {
      requestid: row.requestid,
      cid: row.cid,
      name: row.name,
      status: row.status,
      created_at: row.created_at,
      origins: row.origins,
      meta: row.meta,
      info: JSON.stringify(info),
      version: row.version,
    };
  }

  private account(id: string) {
    return this.env.ACCOUNT.get(this.env.ACCOUNT.idFromName(id));
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  private row(): Row | undefined {
    return one<Row>(this.sql, "SELECT * FROM pin WHERE id = 1");
  }

  private mustRow(): Row {
    const row = this.row();
    if (!row) throw new Error("pin row missing");
    return row;
  }
}

/** The CID an upload of this content is recorded under (uploads use CIDv1, base32). */
export function uploadCid(cid: string): string {
  return CID.parse(cid).toV1().toString();
}

/** A verified block from R2 or the sources, or null when none has it (or all lied). */
async function fetchVerified(blocks: VerifiedBlocks, cid: CID): Promise<Uint8Array | null> {
  try {
    return await blocks.get(cid);
  } catch (err) {
    if (err instanceof BlockNotFound) return null;
    throw err;
  }
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
