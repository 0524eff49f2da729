/**
 * The Account object's SQLite schema. Append new migrations; never edit a shipped one.
 */
export const ACCOUNT_MIGRATIONS = [
  `
  CREATE TABLE account (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    email       TEXT,
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    name          TEXT,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER
  );

  -- Balances are a cache of the journal's sums, kept in the same transaction; the CHECKs are the
  -- last line of defence against a bug that would let money go negative.
  CREATE TABLE balance (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    available  INTEGER NOT NULL CHECK (available >= 0),
    held       INTEGER NOT NULL CHECK (held >= 0)
  );
  INSERT INTO balance (id, available, held) VALUES (1, 0, 0);

  -- Append-only. Every movement of money is one row with a unique operation id.
  CREATE TABLE journal (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('credit', 'debit', 'hold', 'capture', 'release')),
    hold_id      TEXT,
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    d_available  INTEGER NOT NULL,
    d_held       INTEGER NOT NULL,
    memo         TEXT,
    at           INTEGER NOT NULL
  );

  CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    captured    INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status      TEXT NOT NULL CHECK (status IN ('open', 'released')),
    memo        TEXT,
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status       INTEGER,
    headers      TEXT,
    body         BLOB,
    started_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
  );
  CREATE INDEX idempotency_expiry ON idempotency (expires_at);
  `,
  `
  -- Content this account stored (issue 4). One row per root CID; re-uploading the same content
  -- keeps the first row, so storage is never counted twice.
  CREATE TABLE uploads (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    cid         TEXT NOT NULL UNIQUE,
    upload_id   TEXT NOT NULL UNIQUE,
    name        TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'directory', 'car')),
    size        INTEGER NOT NULL CHECK (size >= 0),
    dag_size    INTEGER NOT NULL CHECK (dag_size >= 0),
    blocks      INTEGER NOT NULL CHECK (blocks >= 0),
    blake3      TEXT,
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE upload_sessions (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    state       TEXT NOT NULL CHECK (state IN ('open', 'completed', 'aborted')),
    cid         TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  );

  CREATE TABLE upload_parts (
    session_id  TEXT NOT NULL REFERENCES upload_sessions (id),
    n           INTEGER NOT NULL CHECK (n >= 1),
    size        INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (session_id, n)
  ) WITHOUT ROWID;

  -- Metered events for billing: bytes stored, released and served. The id makes recording
  -- idempotent.
  CREATE TABLE usage_events (
    id     TEXT PRIMARY KEY,
    kind   TEXT NOT NULL CHECK (kind IN ('storage.added', 'storage.removed', 'gateway.served')),
    bytes  INTEGER NOT NULL CHECK (bytes >= 0),
    cid    TEXT,
    at     INTEGER NOT NULL
  );
  `,
  `
  -- The account's jobs, newest last; each job's state lives in its own Job object.
  CREATE TABLE jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );
  `,
] as const;
