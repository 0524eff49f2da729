/**
 * The Treasury's tables. Migrations are append-only: an applied script is never edited.
 *
 * Amounts are USDC base units. Every row that moves money is keyed by an operation id, so a
 * retried call (a job's settlement, a Contributor's outbox, an alarm that ran twice) is a no-op.
 */
export const TREASURY_MIGRATIONS = [
  `CREATE TABLE fees (
     op_id   TEXT PRIMARY KEY,
     job_id  TEXT NOT NULL,
     amount  INTEGER NOT NULL CHECK (amount >= 0),
     at      INTEGER NOT NULL
   );`,
  // Metered charges (storage held, egress served): what an account paid the platform directly,
  // not through a job. One row per charge, keyed by the Account's journal op id.
  `CREATE TABLE revenue (
     op_id    TEXT PRIMARY KEY,
     meter    TEXT NOT NULL,
     account  TEXT NOT NULL,
     amount   INTEGER NOT NULL CHECK (amount >= 0),
     at       INTEGER NOT NULL
   );`,
  // Deposit and stake requests (Solana Pay), watched by the alarm until credited, rejected or
  // expired. `received` is what arrived in the treasury's token account (also for a rejected
  // underpayment, so the books can show money that came in without being credited).
  `CREATE TABLE intents (
     id          TEXT PRIMARY KEY,
     kind        TEXT NOT NULL CHECK (kind IN ('deposit', 'stake')),
     owner       TEXT NOT NULL,
     amount      INTEGER NOT NULL CHECK (amount > 0),
     reference   TEXT NOT NULL UNIQUE,
     memo        TEXT NOT NULL,
     url         TEXT NOT NULL,
     status      TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'credited', 'rejected', 'expired')),
     received    INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0),
     signature   TEXT,
     payer       TEXT,
     code        TEXT,
     detail      TEXT,
     created_at  INTEGER NOT NULL,
     expires_at  INTEGER NOT NULL,
     checked_at  INTEGER,
     settled_at  INTEGER
   );
   CREATE INDEX intents_pending ON intents (status, created_at);
   -- Signatures credited to an intent: a payment is credited once, to one intent.
   CREATE TABLE credited (
     signature  TEXT PRIMARY KEY,
     intent_id  TEXT NOT NULL UNIQUE
   );`,
  // Calls to other objects that must happen exactly once after a local write (crediting an
  // account, a contributor's stake, telling a contributor its payout landed). Written in the same
  // transaction as the cause, delivered by the alarm until the target answers; targets are
  // idempotent by op id, so delivering twice is harmless and losing one is impossible.
  `CREATE TABLE outbox (
     op_id         TEXT PRIMARY KEY,
     target        TEXT NOT NULL CHECK (target IN ('account', 'contributor')),
     name          TEXT NOT NULL,
     action        TEXT NOT NULL,
     amount        INTEGER NOT NULL DEFAULT 0,
     args          TEXT NOT NULL,
     created_at    INTEGER NOT NULL,
     delivered_at  INTEGER,
     attempts      INTEGER NOT NULL DEFAULT 0,
     last_error    TEXT
   );
   CREATE INDEX outbox_undelivered ON outbox (delivered_at, created_at);`,
  // Who holds money with the platform, for the ledger proof: accounts (registered at signup) and
  // contributors (at their first earning or stake).
  `CREATE TABLE accounts (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
   CREATE TABLE contributors (address TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
  // Payouts queued by Contributors (earnings above the threshold, stake after its cooldown),
  // grouped into batches. A payout joins one batch and never another (payBatch's rule), and a
  // batch's attempts are stored before they are sent.
  `CREATE TABLE payouts (
     id           TEXT PRIMARY KEY,
     contributor  TEXT NOT NULL,
     address      TEXT NOT NULL,
     kind         TEXT NOT NULL CHECK (kind IN ('earnings', 'unstake')),
     amount       INTEGER NOT NULL CHECK (amount > 0),
     batch_id     TEXT,
     status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'batched', 'paid')),
     signature    TEXT,
     created_at   INTEGER NOT NULL,
     paid_at      INTEGER
   );
   CREATE INDEX payouts_status ON payouts (status, created_at);
   CREATE TABLE batches (
     id          TEXT PRIMARY KEY,
     status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
     total       INTEGER NOT NULL,
     signature   TEXT,
     slot        INTEGER,
     last_error  TEXT,
     created_at  INTEGER NOT NULL,
     paid_at     INTEGER
   );
   CREATE TABLE attempts (
     signature               TEXT PRIMARY KEY,
     batch_id                TEXT NOT NULL,
     tx                      TEXT NOT NULL,
     last_valid_block_height INTEGER NOT NULL,
     at                      INTEGER NOT NULL
   );
   CREATE INDEX attempts_batch ON attempts (batch_id);`,
  // Slashed stake: the platform's insurance account.
  `CREATE TABLE insurance (
     op_id        TEXT PRIMARY KEY,
     contributor  TEXT NOT NULL,
     amount       INTEGER NOT NULL CHECK (amount >= 0),
     at           INTEGER NOT NULL
   );`,
  // Storage providers' pay for proven periods (issue 8), taken out of metered revenue: the books
  // count revenue less this, and the provider's Contributor earnings hold it. `owed` is what the
  // period earned; `amount` what revenue could cover (the rest is never paid).
  `CREATE TABLE provider_pay (
     op_id     TEXT PRIMARY KEY,
     provider  TEXT NOT NULL,
     pin       TEXT NOT NULL,
     owed      INTEGER NOT NULL CHECK (owed >= 0),
     amount    INTEGER NOT NULL CHECK (amount >= 0 AND amount <= owed),
     at        INTEGER NOT NULL
   );`,
] as const;
