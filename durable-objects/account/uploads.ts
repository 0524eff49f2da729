import { one, pageNewestFirst } from "../sql.ts";

/**
 * The account's stored content, its storage quota, resumable upload sessions and usage events.
 * Blocks themselves live in R2; this is the account's view of which roots it keeps.
 */
export type UploadKind = "file" | "directory" | "car";

export interface UploadRecord {
  cid: string;
  upload_id: string;
  name: string | null;
  kind: UploadKind;
  size: number;
  dag_size: number;
  blocks: number;
  blake3: string | null;
  created_at: string;
  /** When the account's storage is in a grace period (the Account fills it in), else null. */
  grace_until: string | null;
}

/** What a finished upload is recorded with. */
export type NewUpload = Omit<UploadRecord, "created_at" | "grace_until">;

/** The `uploads` row: the record with its ordering key and the time as epoch milliseconds. */
type UploadRow = NewUpload & {
  seq: number;
  created_at: number;
  key_id?: string | null;
};

export interface UsageEvent {
  id: string;
  kind: string;
  bytes: number;
  amount: number;
  cid: string | null;
  key_id: string | null;
  at: number;
}

export type RecordOutcome =
  | { ok: true; created: boolean; upload: UploadRecord }
  | { ok: false; code: "storage_quota_exceeded" | "upload_session_closed"; detail: string };

export interface SessionPart {
  n: number;
  size: number;
}

export interface SessionView {
  id: string;
  name: string | null;
  state: "open" | "completed" | "aborted";
  cid: string | null;
  parts: SessionPart[];
  received: number;
  expires_at: string;
}

/**
 * Sessions not completed within this time are closed: no more parts, no completion, and their
 * parts stop counting against the quota. (Their staged R2 objects are not swept yet.)
 */
export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;

function toRecord(row: UploadRow): UploadRecord {
  const { seq: _seq, created_at, key_id: _key, ...rest } = row;
  return { ...rest, created_at: new Date(created_at).toISOString(), grace_until: null };
}

export class Uploads {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly now: () => number = Date.now,
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  /** Bytes of blocks this account's uploads hold, plus bytes staged in open sessions. */
  used(): number {
    const stored = one<{ n: number | null }>(this.sql, "SELECT SUM(dag_size) AS n FROM uploads");
    const staged = one<{ n: number | null }>(
      this.sql,
      `SELECT SUM(p.size) AS n FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id
       WHERE s.state = 'open' AND s.expires_at > ?`,
      this.now(),
    );
    return (stored?.n ?? 0) + (staged?.n ?? 0);
  }

  /**
   * Records a finished upload unless its CID is already held; refuses when it would take the
   * account past `quota` bytes. The quota check and the insert are one transaction.
   */
  record(upload: NewUpload, quota: number, keyId: string | null = null): RecordOutcome {
    return this.storage.transactionSync((): RecordOutcome => {
      const existing = one<UploadRow>(this.sql, "SELECT * FROM uploads WHERE cid = ?", upload.cid);
      if (existing) return { ok: true, created: false, upload: toRecord(existing) };
      const used = this.used();
      if (used + upload.dag_size > quota) {
        return {
          ok: false,
          code: "storage_quota_exceeded",
          detail: `storing ${upload.dag_size} more bytes would exceed the quota of ${quota} bytes (${used} used)`,
        };
      }
      const at = this.now();
      this.sql.exec(
        `INSERT INTO uploads (cid, upload_id, name, kind, size, dag_size, blocks, blake3, created_at, key_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        upload.cid,
        upload.upload_id,
        upload.name,
        upload.kind,
        upload.size,
        upload.dag_size,
        upload.blocks,
        upload.blake3,
        at,
        keyId,
      );
      this.usage(
        `added:${upload.upload_id}`,
        "storage.added",
        upload.dag_size,
        upload.cid,
        keyId,
        at,
      );
      const row = one<UploadRow>(this.sql, "SELECT * FROM uploads WHERE cid = ?", upload.cid);
      if (!row) throw new Error("upload vanished after insert");
      return { ok: true, created: true, upload: toRecord(row) };
    });
  }

  get(cid: string): UploadRecord | undefined {
    const row = one<UploadRow>(this.sql, "SELECT * FROM uploads WHERE cid = ?", cid);
    return row && toRecord(row);
  }

  /** Newest first; `before` is the cursor from the previous page. */
  list(limit: number, before?: number): { data: UploadRecord[]; next_cursor: string | null } {
    const { rows, next_cursor } = pageNewestFirst<UploadRow>(this.sql, "uploads", limit, before);
    return { data: rows.map(toRecord), next_cursor };
  }

  /**
   * Forgets an upload; the caller releases its blocks. The `storage.removed` event carries the
   * key that stored it, so per-key storage usage ends where it began.
   */
  remove(cid: string, at = this.now()): UploadRecord | undefined {
    return this.storage.transactionSync(() => {
      const row = one<UploadRow & { key_id: string | null }>(
        this.sql,
        "SELECT * FROM uploads WHERE cid = ?",
        cid,
      );
      if (!row) return undefined;
      this.sql.exec("DELETE FROM uploads WHERE cid = ?", cid);
      this.usage(`removed:${row.upload_id}`, "storage.removed", row.dag_size, cid, row.key_id, at);
      return toRecord(row);
    });
  }

  /** Every upload's CID, for a release of the whole account's storage. */
  allCids(): string[] {
    return this.sql
      .exec<{ cid: string }>("SELECT cid FROM uploads ORDER BY seq")
      .toArray()
      .map((r) => r.cid);
  }

  /** Records a usage event; answers whether it is new (an id seen before changes nothing). */
  usage(
    id: string,
    kind: string,
    bytes: number,
    cid: string | null,
    keyId: string | null = null,
    at = this.now(),
  ): boolean {
    const cursor = this.sql.exec(
      "INSERT OR IGNORE INTO usage_events (id, kind, bytes, cid, key_id, at) VALUES (?, ?, ?, ?, ?, ?)",
      id,
      kind,
      bytes,
      cid,
      keyId,
      at,
    );
    return cursor.rowsWritten > 0;
  }

  usageEvents(): UsageEvent[] {
    return this.sql
      .exec<UsageEvent & Record<string, SqlStorageValue>>(
        "SELECT id, kind, bytes, amount, cid, key_id, at FROM usage_events ORDER BY at, id",
      )
      .toArray();
  }

  // --- resumable sessions ---------------------------------------------------------------------

  openSession(id: string, name: string | null): SessionView {
    const at = this.now();
    this.sql.exec(
      "INSERT INTO upload_sessions (id, name, state, created_at, expires_at) VALUES (?, ?, 'open', ?, ?)",
      id,
      name,
      at,
      at + SESSION_TTL_MS,
    );
    return this.session(id) as SessionView;
  }

  session(id: string): SessionView | undefined {
    const row = one<{
      id: string;
      name: string | null;
      state: SessionView["state"];
      cid: string | null;
      expires_at: number;
    }>(this.sql, "SELECT * FROM upload_sessions WHERE id = ?", id);
    if (!row) return undefined;
    const parts = this.sql
      .exec<{ n: number; size: number }>(
        "SELECT n, size FROM upload_parts WHERE session_id = ? ORDER BY n",
        id,
      )
      .toArray();
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      cid: row.cid,
      parts,
      received: parts.reduce((n, p) => n + p.size, 0),
      expires_at: new Date(row.expires_at).toISOString(),
    };
  }

  /** Records a staged part, checking the quota with the part included. */
  recordPart(id: string, n: number, size: number, quota: number): RecordOutcome | { ok: true } {
    return this.storage.transactionSync(() => {
      // Checked here, in the transaction: the session may have closed while the part uploaded.
      const closed = this.notOpen(id);
      if (closed) return closed;
      const prior = one<{ size: number }>(
        this.sql,
        "SELECT size FROM upload_parts WHERE session_id = ? AND n = ?",
        id,
        n,
      );
      const used = this.used() - (prior?.size ?? 0);
      if (used + size > quota) {
        return {
          ok: false as const,
          code: "storage_quota_exceeded" as const,
          detail: `this part would take the account past its quota of ${quota} bytes (${used} used)`,
        };
      }
      this.sql.exec(
        "INSERT INTO upload_parts (session_id, n, size) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET size = excluded.size",
        id,
        n,
        size,
      );
      return { ok: true as const };
    });
  }

  /**
   * Completes a session as one upload: its staged parts stop counting and the upload starts, in
   * one transaction, so a quota refusal leaves the session open and its parts counted as before.
   */
  completeSession(
    id: string,
    upload: NewUpload,
    quota: number,
    keyId: string | null = null,
  ): RecordOutcome {
    try {
      return this.storage.transactionSync((): RecordOutcome => {
        const state = this.session(id)?.state;
        if (state !== "completed") {
          const closed = this.notOpen(id);
          if (closed) return closed;
        }
        if (state === "completed") {
          // Completed meanwhile by a concurrent call: that upload stands; the caller releases ours.
          const done = one<{ cid: string }>(
            this.sql,
            "SELECT cid FROM upload_sessions WHERE id = ?",
            id,
          );
          const existing = done && this.get(done.cid);
          if (existing) return { ok: true, created: false, upload: existing };
        }
        this.closeSession(id, "completed", upload.cid);
        const outcome = this.record(upload, quota, keyId);
        if (!outcome.ok) throw new Rollback(outcome);
        return outcome;
      });
    } catch (err) {
      if (err instanceof Rollback) return err.outcome;
      throw err;
    }
  }

  /** A refusal when the session is not open (aborted, completed or expired), else `undefined`. */
  private notOpen(id: string): Extract<RecordOutcome, { ok: false }> | undefined {
    const row = one<{ state: string; expires_at: number }>(
      this.sql,
      "SELECT state, expires_at FROM upload_sessions WHERE id = ?",
      id,
    );
    if (row?.state === "open" && row.expires_at > this.now()) return undefined;
    const why = !row ? "does not exist" : row.state === "open" ? "has expired" : `is ${row.state}`;
    return { ok: false, code: "upload_session_closed", detail: `session ${id} ${why}` };
  }

  closeSession(id: string, state: "completed" | "aborted", cid: string | null): void {
    this.storage.transactionSync(() => {
      this.sql.exec("UPDATE upload_sessions SET state = ?, cid = ? WHERE id = ?", state, cid, id);
      this.sql.exec("DELETE FROM upload_parts WHERE session_id = ?", id);
    });
  }
}

/** Thrown inside a transaction to roll it back and carry the refusal out. */
class Rollback extends Error {
  constructor(readonly outcome: RecordOutcome) {
    super(outcome.ok ? "rollback" : outcome.detail);
  }
}
