import { one } from "../sql.ts";

/**
 * The account's index of its pin requests (IPFS Pinning Service API), so `GET /pins` can filter
 * and count without asking every `Pin` object. Each `Pin` object is the truth about its request;
 * it writes its row here with a version that only grows, so a late or repeated report never
 * overwrites a newer one.
 *
 * `pinned_uploads` names the uploads a pin created (content fetched for a pin): when the last pin
 * of that CID goes, the upload goes too. An upload the account made itself is never removed by
 * an unpin.
 */
export const PINS_MIGRATION = `
  CREATE TABLE pins (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    requestid   TEXT NOT NULL UNIQUE,
    cid         TEXT NOT NULL,
    name        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'pinning', 'pinned', 'failed')),
    created_at  INTEGER NOT NULL,
    origins     TEXT NOT NULL DEFAULT '[]',
    meta        TEXT NOT NULL DEFAULT '{}',
    info        TEXT NOT NULL DEFAULT '{}',
    version     INTEGER NOT NULL
  );
  CREATE INDEX pins_cid ON pins (cid);
  CREATE INDEX pins_created ON pins (created_at);
  CREATE TABLE pinned_uploads (upload_id TEXT PRIMARY KEY, cid TEXT NOT NULL);
`;

export type PinState = "queued" | "pinning" | "pinned" | "failed";

/** One pin request as the index keeps it (JSON columns as strings). */
export interface PinRow {
  requestid: string;
  cid: string;
  name: string | null;
  status: PinState;
  created_at: number;
  origins: string;
  meta: string;
  info: string;
  version: number;
}

export interface PinFilter {
  cids?: string[] | undefined;
  name?: string | undefined;
  match: "exact" | "iexact" | "partial" | "ipartial";
  statuses: PinState[];
  before?: number | undefined;
  after?: number | undefined;
  limit: number;
  /** Every key must be present in the pin's meta with this value. */
  meta?: Record<string, string> | undefined;
}

const NAME_MATCH: Record<PinFilter["match"], string> = {
  exact: "name = ?",
  iexact: "lower(name) = lower(?)",
  partial: "instr(name, ?) > 0",
  ipartial: "instr(lower(name), lower(?)) > 0",
};

export class AccountPins {
  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql() {
    return this.storage.sql;
  }

  /** Inserts or updates a pin's row; a row with a newer version is left as it is. */
  put(row: PinRow): void {
    this.sql.exec(
      `INSERT INTO pins (requestid, cid, name, status, created_at, origins, meta, info, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (requestid) DO UPDATE SET status = excluded.status, info = excluded.info,
         version = excluded.version WHERE excluded.version > pins.version`,
      row.requestid,
      row.cid,
      row.name,
      row.status,
      row.created_at,
      row.origins,
      row.meta,
      row.info,
      row.version,
    );
  }

  /** Files an upload as created by a pin, so the last unpin of its CID removes it. */
  markPinned(uploadId: string, cid: string): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO pinned_uploads (upload_id, cid) VALUES (?, ?)",
      uploadId,
      cid,
    );
  }

  /**
   * Forgets a pin. Answers the CID whose upload should now be removed: one a pin created
   * (`uploadCid`, the CIDv1 it was recorded under), when no other pin of the account names that
   * CID any more.
   */
  drop(requestid: string, uploadCid: string): string | undefined {
    return this.storage.transactionSync(() => {
      const row = one<{ cid: string }>(
        this.sql,
        "SELECT cid FROM pins WHERE requestid = ?",
        requestid,
      );
      if (!row) return undefined;
      this.sql.exec("DELETE FROM pins WHERE requestid = ?", requestid);
      const others = one(this.sql, "SELECT 1 AS x FROM pins WHERE cid = ?", row.cid);
      if (others) return undefined;
      const created = one(this.sql, "SELECT 1 AS x FROM pinned_uploads WHERE cid = ?", uploadCid);
      if (!created) return undefined;
      this.sql.exec("DELETE FROM pinned_uploads WHERE cid = ?", uploadCid);
      return uploadCid;
    });
  }

  /** Pins matching the filter, newest first, and how many match in all. */
  list(filter: PinFilter): { count: number; rows: PinRow[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.cids?.length) {
      where.push(`cid IN (${filter.cids.map(() => "?").join(", ")})`);
      args.push(...filter.cids);
    }
    if (filter.name !== undefined) {
      where.push(`name IS NOT NULL AND ${NAME_MATCH[filter.match]}`);
      args.push(filter.name);
    }
    where.push(`status IN (${filter.statuses.map(() => "?").join(", ")})`);
    args.push(...filter.statuses);
    if (filter.before !== undefined) {
      where.push("created_at < ?");
      args.push(filter.before);
    }
    if (filter.after !== undefined) {
      where.push("created_at > ?");
      args.push(filter.after);
    }
    if (filter.meta && Object.keys(filter.meta).length > 0) {
      // Every (key, value) of the filter is among the pin's meta entries.
      where.push(`NOT EXISTS (SELECT 1 FROM json_each(?) f WHERE NOT EXISTS (
        SELECT 1 FROM json_each(pins.meta) m WHERE m.key = f.key AND m.value = f.value))`);
      args.push(JSON.stringify(filter.meta));
    }
    const clause = where.join(" AND ");
    const count =
      one<{ n: number }>(this.sql, `SELECT COUNT(*) AS n FROM pins WHERE ${clause}`, ...args)?.n ??
      0;
    const rows = this.sql
      .exec<PinRow & Record<string, SqlStorageValue>>(
        `SELECT requestid, cid, name, status, created_at, origins, meta, info, version FROM pins
         WHERE ${clause} ORDER BY created_at DESC, seq DESC LIMIT ?`,
        ...args,
        filter.limit,
      )
      .toArray();
    return { count, rows };
  }
}
