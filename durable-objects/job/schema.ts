/**
 * The `Job` object's tables. Migration 1 is the job, its tasks and a release-only outbox;
 * migration 2 adds leases and results (`replicas`), verification columns on tasks, the event log
 * behind `GET /v1/jobs/{id}/events`, and the full settlement outbox; migration 3 indexes.
 */
export const JOB_MIGRATIONS = [
  `CREATE TABLE job (
     id          TEXT PRIMARY KEY,
     account_id  TEXT NOT NULL,
     kind        TEXT NOT NULL,
     spec        TEXT NOT NULL,
     quote       TEXT NOT NULL,
     hold_id     TEXT NOT NULL,
     status      TEXT NOT NULL CHECK (status IN ('queued','running','verifying','completed','failed','cancelled')),
     cost        INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
     result_cid  TEXT,
     created_at  INTEGER NOT NULL,
     updated_at  INTEGER NOT NULL
   );
   CREATE TABLE tasks (
     idx     INTEGER PRIMARY KEY,
     spec    TEXT NOT NULL,
     status  TEXT NOT NULL CHECK (status IN ('pending','leased','verifying','accepted','failed'))
   );
   CREATE TABLE outbox (
     op_id    TEXT PRIMARY KEY,
     kind     TEXT NOT NULL CHECK (kind IN ('release')),
     done_at  INTEGER
   );`,
  // Each replica is one lease of a task to one contributor and, once submitted, its result.
  // A task is open while `required - best - active > 0` leases are missing (verify.ts).
  `ALTER TABLE job ADD COLUMN compute_paid INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE job ADD COLUMN failure TEXT;
   ALTER TABLE job ADD COLUMN charged INTEGER;
   ALTER TABLE job ADD COLUMN fee INTEGER;
   ALTER TABLE job ADD COLUMN lease_ms INTEGER NOT NULL DEFAULT 60000;
   ALTER TABLE tasks ADD COLUMN required INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE tasks ADD COLUMN best INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN active INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN accepted_token TEXT;
   CREATE INDEX tasks_open ON tasks (status, idx);
   CREATE TABLE replicas (
     token     TEXT PRIMARY KEY,
     task_idx  INTEGER NOT NULL,
     address   TEXT NOT NULL,
     canary    INTEGER NOT NULL DEFAULT 0,
     status    TEXT NOT NULL CHECK (status IN ('leased','submitted','expired','released','failed')),
     deadline  INTEGER NOT NULL,
     output    BLOB,
     digest    TEXT,
     verdict   TEXT CHECK (verdict IN ('accepted','rejected','surplus')),
     earned    INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0),
     reason    TEXT,
     at        INTEGER NOT NULL
   );
   CREATE INDEX replicas_task ON replicas (task_idx, address);
   CREATE INDEX replicas_leased ON replicas (status, deadline);
   CREATE TABLE events (
     seq   INTEGER PRIMARY KEY AUTOINCREMENT,
     type  TEXT NOT NULL,
     data  TEXT NOT NULL,
     at    INTEGER NOT NULL
   );
   DROP TABLE outbox;
   CREATE TABLE outbox (
     seq      INTEGER PRIMARY KEY AUTOINCREMENT,
     op_id    TEXT NOT NULL UNIQUE,
     kind     TEXT NOT NULL CHECK (kind IN ('notify','capture','contributor','fee','release')),
     target   TEXT,
     amount   INTEGER,
     data     TEXT,
     done_at  INTEGER
   );`,
  // Partial indexes for the questions every exchange asks, so none of them scans the job: which
  // tasks still need a lease, which are out of attempts (4 = MAX_EXTRA_ATTEMPTS, written out: a
  // query uses a partial index only when it repeats the index's terms), which results wait for a
  // verdict; and each contributor's replicas, for "has it touched this task".
  `CREATE INDEX tasks_need ON tasks (idx) WHERE status = 'pending' AND required - best - active > 0;
   CREATE INDEX tasks_spent ON tasks (idx) WHERE status = 'pending' AND attempts >= required + 4;
   CREATE INDEX replicas_undecided ON replicas (at) WHERE status = 'submitted' AND verdict IS NULL;
   CREATE INDEX replicas_address ON replicas (address, task_idx);`,
] as const;
