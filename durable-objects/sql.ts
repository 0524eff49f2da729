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
    for (const script of migrations.slice(current)) sql.exec(script);
    if (row) sql.exec("UPDATE _schema SET version = ?", migrations.length);
    else sql.exec("INSERT INTO _schema (version) VALUES (?)", migrations.length);
  });
}

/** The first row of a query, or `undefined`. */
export function one<T extends Record<string, SqlStorageValue>>(
  sql: SqlStorage,
  query: string,
  ...bindings: unknown[]
): T | undefined {
  return sql.exec<T>(query, ...bindings).toArray()[0];
}
