import type { Micros } from "../../protocol/money.ts";
import { one } from "../sql.ts";

/**
 * The money core: an append-only journal in USDC base units, with available and held balances.
 *
 * Every operation carries an id and is recorded as one journal row; applying the same id again is
 * a no-op that returns the current balance (`replayed: true`), and reusing an id for a different
 * operation is an error. The balance row is the journal's running sum, updated in the same
 * synchronous SQLite transaction, so a crash can never leave one without the other.
 *
 * Holds reserve money for work in progress (a job's escrow): `hold` moves money from available to
 * held, `capture` spends part of a hold, `release` returns the remainder and closes it.
 */
export type LedgerErrorCode =
  | "insufficient_funds"
  | "hold_not_found"
  | "hold_closed"
  | "capture_exceeds_hold"
  | "operation_id_reused";

export interface BalanceRow {
  available: Micros;
  held: Micros;
}

export type LedgerResult<T = Record<never, never>> =
  | ({ ok: true; replayed: boolean; balance: BalanceRow } & T)
  | { ok: false; code: LedgerErrorCode; detail: string };

type Kind = "credit" | "debit" | "hold" | "capture" | "release";

interface JournalRow extends Record<string, SqlStorageValue> {
  seq: number;
  op_id: string;
  kind: Kind;
  hold_id: string | null;
  amount: number;
  d_available: number;
  d_held: number;
  memo: string | null;
  at: number;
}

interface HoldRow extends Record<string, SqlStorageValue> {
  id: string;
  amount: number;
  captured: number;
  status: "open" | "released";
}

export interface JournalEntry {
  seq: number;
  op_id: string;
  kind: Kind;
  hold_id: string | null;
  amount: Micros;
  d_available: number;
  d_held: number;
  memo: string | null;
  at: number;
}

/** The journal op id of a hold: holds are named by their own id. */
const holdOpId = (holdId: string) => `hold:${holdId}`;

export class Ledger {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly now: () => number = Date.now,
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  balance(): BalanceRow {
    const row = one<{ available: number; held: number }>(
      this.sql,
      "SELECT available, held FROM balance WHERE id = 1",
    );
    if (!row) throw new Error("balance row missing: schema not migrated");
    return { available: row.available as Micros, held: row.held as Micros };
  }

  credit(opId: string, amount: Micros, memo?: string): LedgerResult {
    return this.apply(opId, "credit", null, amount, () => {
      this.record(opId, "credit", null, amount, amount, 0, memo);
      return {};
    });
  }

  debit(opId: string, amount: Micros, memo?: string): LedgerResult {
    return this.apply(opId, "debit", null, amount, (bal) => {
      if (amount > bal.available) return insufficient(amount, bal);
      this.record(opId, "debit", null, amount, -amount, 0, memo);
      return {};
    });
  }

  hold(holdId: string, amount: Micros, memo?: string): LedgerResult {
    const opId = holdOpId(holdId);
    return this.apply(opId, "hold", holdId, amount, (bal) => {
      if (amount > bal.available) return insufficient(amount, bal);
      if (this.getHold(holdId)) return reused(opId);
      this.sql.exec(
        "INSERT INTO holds (id, amount, captured, status, memo, created_at) VALUES (?, ?, 0, 'open', ?, ?)",
        holdId,
        amount,
        memo ?? null,
        this.now(),
      );
      this.record(opId, "hold", holdId, amount, -amount, amount, memo);
      return {};
    });
  }

  capture(holdId: string, amount: Micros, opId: string, memo?: string): LedgerResult {
    return this.apply(opId, "capture", holdId, amount, () => {
      const hold = this.getHold(holdId);
      if (!hold) return { ok: false, code: "hold_not_found", detail: `no hold ${holdId}` };
      if (hold.status !== "open") {
        return { ok: false, code: "hold_closed", detail: `hold ${holdId} is released` };
      }
      const remaining = hold.amount - hold.captured;
      if (amount > remaining) {
        return {
          ok: false,
          code: "capture_exceeds_hold",
          detail: `capture of ${amount} exceeds the ${remaining} remaining on hold ${holdId}`,
        };
      }
      this.sql.exec("UPDATE holds SET captured = captured + ? WHERE id = ?", amount, holdId);
      this.record(opId, "capture", holdId, amount, 0, -amount, memo);
      return {};
    });
  }

  /** Closes a hold, returning what was not captured to the available balance. */
  release(holdId: string, opId: string, memo?: string): LedgerResult<{ released: Micros }> {
    const replay = this.replay(opId, "release", holdId, null);
    if (replay) {
      if (!replay.ok) return replay;
      const row = one<{ amount: number }>(
        this.sql,
        "SELECT amount FROM journal WHERE op_id = ?",
        opId,
      );
      return { ...replay, released: (row?.amount ?? 0) as Micros };
    }
    return this.storage.transactionSync(() => {
      const hold = this.getHold(holdId);
      if (!hold) return { ok: false, code: "hold_not_found", detail: `no hold ${holdId}` };
      if (hold.status !== "open") {
        return { ok: false, code: "hold_closed", detail: `hold ${holdId} is already released` };
      }
      const remainder = hold.amount - hold.captured;
      this.sql.exec("UPDATE holds SET status = 'released' WHERE id = ?", holdId);
      this.record(opId, "release", holdId, remainder, remainder, -remainder, memo);
      return { ok: true, replayed: false, balance: this.balance(), released: remainder as Micros };
    });
  }

  /** Journal entries, oldest first, after `afterSeq`. */
  journal(afterSeq = 0, limit = 100): JournalEntry[] {
    return this.sql
      .exec<JournalRow>(
        "SELECT * FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
        afterSeq,
        Math.min(Math.max(limit, 1), 1000),
      )
      .toArray()
      .map((r) => ({ ...r, amount: r.amount as Micros }));
  }

  /** Sums of the journal, for audits: they must always equal `balance()`. */
  journalSums(): { available: number; held: number } {
    const row = one<{ a: number | null; h: number | null }>(
      this.sql,
      "SELECT SUM(d_available) AS a, SUM(d_held) AS h FROM journal",
    );
    return { available: row?.a ?? 0, held: row?.h ?? 0 };
  }

  /** Sum of what every open hold still reserves; equals `balance().held`. */
  openHoldsTotal(): number {
    const row = one<{ t: number | null }>(
      this.sql,
      "SELECT SUM(amount - captured) AS t FROM holds WHERE status = 'open'",
    );
    return row?.t ?? 0;
  }

  private getHold(holdId: string): HoldRow | undefined {
    return one<HoldRow>(this.sql, "SELECT * FROM holds WHERE id = ?", holdId);
  }

  /** Runs `body` in a transaction unless `opId` was already applied. */
  private apply(
    opId: string,
    kind: Kind,
    holdId: string | null,
    amount: Micros,
    body: (bal: BalanceRow) => { ok: false; code: LedgerErrorCode; detail: string } | object,
  ): LedgerResult {
    const replay = this.replay(opId, kind, holdId, amount);
    if (replay) return replay;
    return this.storage.transactionSync(() => {
      const outcome = body(this.balance());
      if ("ok" in outcome && outcome.ok === false) return outcome as LedgerResult;
      return { ok: true, replayed: false, balance: this.balance() };
    });
  }

  /** If `opId` is in the journal: a no-op success when it matches, an error when it does not. */
  private replay(
    opId: string,
    kind: Kind,
    holdId: string | null,
    amount: number | null,
  ): LedgerResult | undefined {
    const prior = one<JournalRow>(this.sql, "SELECT * FROM journal WHERE op_id = ?", opId);
    if (!prior) return undefined;
    const same =
      prior.kind === kind &&
      prior.hold_id === holdId &&
      (amount === null || prior.amount === amount);
    return same ? { ok: true, replayed: true, balance: this.balance() } : reused(opId);
  }

  private record(
    opId: string,
    kind: Kind,
    holdId: string | null,
    amount: number,
    dAvailable: number,
    dHeld: number,
    memo: string | undefined,
  ): void {
    this.sql.exec(
      "INSERT INTO journal (op_id, kind, hold_id, amount, d_available, d_held, memo, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      opId,
      kind,
      holdId,
      amount,
      dAvailable,
      dHeld,
      memo ?? null,
      this.now(),
    );
    this.sql.exec(
      "UPDATE balance SET available = available + ?, held = held + ? WHERE id = 1",
      dAvailable,
      dHeld,
    );
  }
}

function insufficient(amount: number, bal: BalanceRow) {
  return {
    ok: false as const,
    code: "insufficient_funds" as const,
    detail: `needs ${amount} USDC base units, ${bal.available} available`,
  };
}

function reused(opId: string) {
  return {
    ok: false as const,
    code: "operation_id_reused" as const,
    detail: `operation id ${opId} was already used for a different operation`,
  };
}
