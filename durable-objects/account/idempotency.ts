import { one } from "../sql.ts";

/**
 * Stored responses for `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header):
 * the first request with a key runs and its response is kept for `ttl`; a retry with the same
 * key and the same request fingerprint gets that response again; a different request under the
 * same key is refused (422), and so is a retry while the first is still running (409).
 */
export interface StoredResponse {
  status: number;
  headers: [string, string][];
  body: ArrayBuffer;
}

export type BeginOutcome =
  | { kind: "proceed" }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "mismatch" }
  | { kind: "in_flight" };

interface Row extends Record<string, SqlStorageValue> {
  key: string;
  fingerprint: string;
  state: "in_flight" | "done";
  status: number | null;
  headers: string | null;
  body: ArrayBuffer | null;
  started_at: number;
  expires_at: number;
}

/** How long a finished response is kept for replay. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
/** An in-flight record older than this belongs to a request that died; a retry may take over. */
const ABANDONED_AFTER_MS = 60 * 1000;

export class IdempotencyRecords {
  constructor(
    private readonly sql: SqlStorage,
    private readonly now: () => number = Date.now,
  ) {}

  begin(key: string, fingerprint: string): BeginOutcome {
    const now = this.now();
    this.sql.exec("DELETE FROM idempotency WHERE expires_at < ?", now);
    const row = one<Row>(this.sql, "SELECT * FROM idempotency WHERE key = ?", key);
    if (row) {
      if (row.fingerprint !== fingerprint) return { kind: "mismatch" };
      if (row.state === "done" && row.status !== null) {
        return {
          kind: "replay",
          response: {
            status: row.status,
            headers: JSON.parse(row.headers ?? "[]") as [string, string][],
            body: row.body ?? new ArrayBuffer(0),
          },
        };
      }
      if (now - row.started_at < ABANDONED_AFTER_MS) return { kind: "in_flight" };
    }
    this.sql.exec(
      `INSERT INTO idempotency (key, fingerprint, state, started_at, expires_at)
       VALUES (?, ?, 'in_flight', ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = 'in_flight', started_at = excluded.started_at,
         expires_at = excluded.expires_at`,
      key,
      fingerprint,
      now,
      now + RETENTION_MS,
    );
    return { kind: "proceed" };
  }

  complete(key: string, fingerprint: string, response: StoredResponse): void {
    this.sql.exec(
      `UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ?, expires_at = ?
       WHERE key = ? AND fingerprint = ?`,
      response.status,
      JSON.stringify(response.headers),
      response.body,
      this.now() + RETENTION_MS,
      key,
      fingerprint,
    );
  }

  /** Forgets an in-flight key whose request failed with a server error, so a retry can run. */
  abandon(key: string, fingerprint: string): void {
    this.sql.exec(
      "DELETE FROM idempotency WHERE key = ? AND fingerprint = ? AND state = 'in_flight'",
      key,
      fingerprint,
    );
  }
}
