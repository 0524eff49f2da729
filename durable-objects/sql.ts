/**
 * Schema migrations for a SQLite-backed Durable Object.
 *
 * Each migration is a SQL script; the applied count lives in `_schema`. Run it inside the object's
 * `blockConcurrencyWhile` so no request sees a half-migrated database, and let a failure throw:
 * a Durable Object that cannot migrate must not serve.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly string[]): void {
  storage.transactionSync(() => {
    const sql = storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS _schema (version INTEGER NOT NULL)");
    const row = sql.exec<{ version: number }>("SELECT version FROM _schema").toArray()[0];
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new Error(`schema version ${current} is newer than this code (${migrations.length})`);
    }
    // An object already at the newest version writes nothing: waking up costs no commit.
    if (row && current === migrations.length) return;
    for (const script of migrations.slice(current)) sql.exec(script);
    if (row) sql.exec("UPDATE _schema SET version = ?", migrations.length);
    else sql.exec("INSERT INTO _schema (version) VALUES (?)", migrations.length);
  });
}

/**
 * One page of `table`, newest first by its `seq` column, after the cursor `before` (a `seq` from
 * the previous page). Reads one row more than asked to know whether another page follows.
 */
export function pageNewestFirst<T extends Record<string, SqlStorageValue> & { seq: number }>(
  sql: SqlStorage,
  table: string,
  limit: number,
  before?: number,
): { rows: T[]; next_cursor: string | null } {
  const rows = sql
    .exec<T>(
      `SELECT * FROM ${table} WHERE seq < ? ORDER BY seq DESC LIMIT ?`,
      before ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    )
    .toArray();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { rows: page, next_cursor: rows.length > limit && last ? String(last.seq) : null };
}

/** The first row of a query, or `undefined`. */
export function one<T extends Record<string, SqlStorageValue>>(
  sql: SqlStorage,
  query: string,
  ...bindings: unknown[]
): T | undefined {
  return sql.exec<T>(query, ...bindings).toArray()[0];
}
