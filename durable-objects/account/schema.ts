import { PINS_MIGRATION } from "./pins.ts";

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
  `
  -- Metering and billing (issue 7). Usage events gain the key that caused them and an amount
  -- (compute captures); SQLite cannot widen a CHECK in place, so the table is rebuilt.
  CREATE TABLE usage_events_v2 (
    id      TEXT PRIMARY KEY,
    kind    TEXT NOT NULL CHECK (kind IN ('storage.added', 'storage.removed', 'gateway.served',
                                          'compute.captured')),
    bytes   INTEGER NOT NULL CHECK (bytes >= 0),
    amount  INTEGER NOT NULL DEFAULT 0 CHECK (amount >= 0),
    cid     TEXT,
    key_id  TEXT,
    ref     TEXT,
    at      INTEGER NOT NULL
  );
  INSERT INTO usage_events_v2 (id, kind, bytes, cid, at)
    SELECT id, kind, bytes, cid, at FROM usage_events;
  DROP TABLE usage_events;
  ALTER TABLE usage_events_v2 RENAME TO usage_events;
  CREATE INDEX usage_events_at ON usage_events (at);

  -- Which key placed a hold (spend caps count open holds) and stored an upload (storage usage).
  ALTER TABLE holds ADD COLUMN key_id TEXT;
  ALTER TABLE uploads ADD COLUMN key_id TEXT;

  -- One row per usage charge: the journal debit or capture (same op id) with what it paid for.
  CREATE TABLE charges (
    op_id       TEXT PRIMARY KEY,
    meter       TEXT NOT NULL CHECK (meter IN ('storage', 'egress', 'compute')),
    key_id      TEXT,
    quantity    REAL NOT NULL CHECK (quantity >= 0),
    unit_price  INTEGER,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    ref         TEXT,
    from_at     INTEGER NOT NULL,
    to_at       INTEGER NOT NULL,
    at          INTEGER NOT NULL
  );
  CREATE INDEX charges_at ON charges (at);

  -- Metered usage not yet debited, per meter and key ('' = none): whole base units due, the
  -- fraction of a base unit carried (a BigInt numerator as text), and the quantity they pay for.
  CREATE TABLE meter_due (
    meter      TEXT NOT NULL CHECK (meter IN ('storage', 'egress')),
    key_id     TEXT NOT NULL,
    remainder  TEXT NOT NULL DEFAULT '0',
    due        INTEGER NOT NULL DEFAULT 0 CHECK (due >= 0),
    quantity   REAL NOT NULL DEFAULT 0,
    from_at    INTEGER,
    to_at      INTEGER,
    PRIMARY KEY (meter, key_id)
  ) WITHOUT ROWID;

  -- One row: storage charged up to storage_until; the grace period when the balance fell short.
  CREATE TABLE metering (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    storage_until     INTEGER,
    seq               INTEGER NOT NULL DEFAULT 0,
    grace_until       INTEGER,
    released_at       INTEGER,
    released_uploads  INTEGER NOT NULL DEFAULT 0
  );
  -- Storage is charged from when metering began: content stored before it is not billed back.
  INSERT INTO metering (id, storage_until)
    VALUES (1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

  -- Deliveries to other objects, written in the same transaction as the change they follow
  -- (a debit's revenue for the Treasury, a released upload's blocks) and retried by the alarm.
  CREATE TABLE outbox (
    op_id     TEXT PRIMARY KEY,
    kind      TEXT NOT NULL CHECK (kind IN ('revenue', 'release')),
    meter     TEXT,
    amount    INTEGER,
    ref       TEXT,
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_at   INTEGER NOT NULL
  );

  -- Monthly spend caps in base units: scope 'account' or a key id.
  CREATE TABLE spend_caps (
    scope          TEXT PRIMARY KEY,
    monthly_limit  INTEGER NOT NULL CHECK (monthly_limit >= 0)
  );
  `,
  // Pin requests of the Pinning Service API (pins.ts).
  PINS_MIGRATION,
] as const;
