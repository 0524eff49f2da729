import type { Micros } from "../../protocol/money.ts";
import { one } from "../sql.ts";
import type { Ledger } from "./ledger.ts";

/**
 * Charging metered usage (issue 7): storage as it is held, egress as it is served.
 *
 * Storage is integrated from the account's `storage.added`/`storage.removed` events in byte-
 * milliseconds (exact, BigInt) from where the last charge stopped to now, per key that stored
 * it; egress is each `gateway.served` event's bytes. Either becomes a numerator over its
 * meter's denominator (a GiB-month or a GiB, times the price), so whole base units become due
 * and the fraction is carried to the next charge: summed over any number of charges, the amount
 * debited never drifts from the exact price by more than one base unit per meter and key.
 *
 * What is due is debited when the available balance covers it, in the same transaction as the
 * `charges` row (what the debit paid for, for invoices) and an outbox row that credits the same
 * amount to the Treasury as revenue; money is never in one object's books without the other's.
 * When the balance falls short, the due amount waits (it is owed, not lost) and, if the account
 * stores data, a grace period starts; see `Account.alarm`.
 */
export const GIB = 1024 ** 3;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** A GiB-month is one GiB held for 30 days. */
export const MONTH_MS = 30 * DAY_MS;

const STORAGE_DENOMINATOR = BigInt(GIB) * BigInt(MONTH_MS);
const EGRESS_DENOMINATOR = BigInt(GIB);

export type Meter = "storage" | "egress" | "compute";

export interface MeterPrices {
  /** Base units per GiB-month held. */
  storage: Micros;
  /** Base units per GiB served. */
  egress: Micros;
}

export interface MeteringState {
  storage_until: number | null;
  seq: number;
  grace_until: number | null;
  released_at: number | null;
  released_uploads: number;
}

interface DueRow extends Record<string, SqlStorageValue> {
  meter: "storage" | "egress";
  key_id: string;
  remainder: string;
  due: number;
  quantity: number;
  from_at: number | null;
  to_at: number | null;
}

const STORAGE_KINDS = "kind IN ('storage.added', 'storage.removed')";

/**
 * Byte-milliseconds held in `[from, to)` per key ('' for uploads no key made), from the events.
 * `keyId` narrows it to one key.
 */
export function storageByteMs(
  sql: SqlStorage,
  from: number,
  to: number,
  keyId?: string,
): Map<string, bigint> {
  const byKey = keyId === undefined ? "" : "AND COALESCE(key_id, '') = ?";
  const binds = keyId === undefined ? [] : [keyId];
  const held = new Map<string, bigint>();
  for (const r of sql
    .exec<{ k: string; held: number }>(
      `SELECT COALESCE(key_id, '') AS k,
              SUM(CASE kind WHEN 'storage.added' THEN bytes ELSE -bytes END) AS held
       FROM usage_events WHERE ${STORAGE_KINDS} AND at < ? ${byKey} GROUP BY k`,
      from,
      ...binds,
    )
    .toArray()) {
    held.set(r.k, BigInt(r.held));
  }
  const last = new Map<string, number>();
  const total = new Map<string, bigint>();
  const add = (k: string, until: number) => {
    const h = held.get(k) ?? 0n;
    const since = last.get(k) ?? from;
    total.set(k, (total.get(k) ?? 0n) + h * BigInt(until - since));
    last.set(k, until);
  };
  for (const e of sql
    .exec<{ k: string; kind: string; bytes: number; at: number }>(
      `SELECT COALESCE(key_id, '') AS k, kind, bytes, at FROM usage_events
       WHERE ${STORAGE_KINDS} AND at >= ? AND at < ? ${byKey} ORDER BY at`,
      from,
      to,
      ...binds,
    )
    .toArray()) {
    add(e.k, e.at);
    const sign = e.kind === "storage.added" ? 1n : -1n;
    held.set(e.k, (held.get(e.k) ?? 0n) + sign * BigInt(e.bytes));
  }
  for (const k of held.keys()) add(k, to);
  return total;
}

export class Metering {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly ledger: Ledger,
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  state(): MeteringState {
    const row = one<MeteringState & Record<string, SqlStorageValue>>(
      this.sql,
      "SELECT storage_until, seq, grace_until, released_at, released_uploads FROM metering WHERE id = 1",
    );
    if (!row) throw new Error("metering row missing: schema not migrated");
    return row;
  }

  /** Bytes the account's uploads hold now. */
  storedBytes(): number {
    return one<{ n: number | null }>(this.sql, "SELECT SUM(dag_size) AS n FROM uploads")?.n ?? 0;
  }

  /** Base units owed and not yet debited (the balance fell short). */
  owed(): Micros {
    return (one<{ n: number | null }>(this.sql, "SELECT SUM(due) AS n FROM meter_due")?.n ??
      0) as Micros;
  }

  /** What `stored` bytes cost per day at `price` per GiB-month, rounded up. */
  static storageCostPerDay(stored: number, price: Micros): Micros {
    return Number(
      (BigInt(stored) * BigInt(price) * BigInt(DAY_MS) + STORAGE_DENOMINATOR - 1n) /
        STORAGE_DENOMINATOR,
    ) as Micros;
  }

  /** What holding `bytes` from `now` to `until` costs at `price` per GiB-month, rounded up. */
  static storageCost(bytes: number, ms: number, price: Micros): Micros {
    return Number(
      (BigInt(bytes) * BigInt(Math.max(0, ms)) * BigInt(price) + STORAGE_DENOMINATOR - 1n) /
        STORAGE_DENOMINATOR,
    ) as Micros;
  }

  /**
   * Accrues storage held since the last charge up to `now`, per key. Call inside a transaction,
   * then `collect`.
   */
  accrueStorage(now: number, price: Micros): void {
    const state = this.state();
    const from =
      state.storage_until ??
      one<{ at: number | null }>(
        this.sql,
        `SELECT MIN(at) AS at FROM usage_events WHERE ${STORAGE_KINDS}`,
      )?.at ??
      null;
    if (from === null || now <= from) return;
    for (const [key, byteMs] of storageByteMs(this.sql, from, now)) {
      if (byteMs <= 0n) continue;
      this.accrue(
        "storage",
        key,
        byteMs * BigInt(price),
        STORAGE_DENOMINATOR,
        Number(byteMs) / HOUR_MS,
        from,
        now,
      );
    }
    this.sql.exec("UPDATE metering SET storage_until = ? WHERE id = 1", now);
  }

  /** Accrues one response's egress. Call inside a transaction, then `collect`. */
  accrueEgress(keyId: string | null, bytes: number, price: Micros, at: number): void {
    this.accrue(
      "egress",
      keyId ?? "",
      BigInt(bytes) * BigInt(price),
      EGRESS_DENOMINATOR,
      bytes,
      at,
      at,
    );
  }

  private accrue(
    meter: "storage" | "egress",
    key: string,
    numerator: bigint,
    denominator: bigint,
    quantity: number,
    from: number,
    to: number,
  ): void {
    const row = one<DueRow>(
      this.sql,
      "SELECT * FROM meter_due WHERE meter = ? AND key_id = ?",
      meter,
      key,
    );
    const total = BigInt(row?.remainder ?? "0") + numerator;
    this.sql.exec(
      `INSERT INTO meter_due (meter, key_id, remainder, due, quantity, from_at, to_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (meter, key_id) DO UPDATE SET remainder = excluded.remainder,
         due = excluded.due, quantity = excluded.quantity, from_at = excluded.from_at,
         to_at = excluded.to_at`,
      meter,
      key,
      (total % denominator).toString(),
      (row?.due ?? 0) + Number(total / denominator),
      (row?.quantity ?? 0) + quantity,
      Math.min(row?.from_at ?? from, from),
      Math.max(row?.to_at ?? to, to),
    );
  }

  /**
   * Debits every due amount the available balance covers, each with its `charges` row and the
   * outbox row that credits it to the Treasury. Returns what is still owed. Call inside a
   * transaction.
   */
  collect(now: number, prices: MeterPrices): Micros {
    const rows = this.sql
      .exec<DueRow>("SELECT * FROM meter_due WHERE due > 0 ORDER BY meter, key_id")
      .toArray();
    for (const row of rows) {
      if (this.ledger.balance().available < row.due) continue;
      const seq = this.state().seq + 1;
      this.sql.exec("UPDATE metering SET seq = ? WHERE id = 1", seq);
      const opId = `charge:${row.meter}:${seq}`;
      const price = row.meter === "storage" ? prices.storage : prices.egress;
      const debited = this.ledger.debit(
        opId,
        row.due as Micros,
        `${row.meter} ${new Date(row.from_at ?? now).toISOString()} – ${new Date(row.to_at ?? now).toISOString()}`,
      );
      if (!debited.ok) throw new Error(`${debited.code}: ${debited.detail}`);
      this.sql.exec(
        `INSERT INTO charges (op_id, meter, key_id, quantity, unit_price, amount, ref, from_at, to_at, at)
         VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
        opId,
        row.meter,
        row.key_id || null,
        row.quantity,
        price,
        row.due,
        row.from_at ?? now,
        row.to_at ?? now,
        // Dated like its journal row (the clock), not the metered interval's end.
        Date.now(),
      );
      this.sql.exec(
        "INSERT INTO outbox (op_id, kind, meter, amount, ref, next_at) VALUES (?, 'revenue', ?, ?, NULL, ?)",
        opId,
        row.meter,
        row.due,
        Date.now(), // delivered at once, whatever time was metered
      );
      this.sql.exec(
        "UPDATE meter_due SET due = 0, quantity = 0, from_at = NULL, to_at = NULL WHERE meter = ? AND key_id = ?",
        row.meter,
        row.key_id,
      );
    }
    return this.owed();
  }

  /** Records a job's capture as a compute charge (same op id as the capture). */
  recordCompute(opId: string, holdId: string, keyId: string | null, amount: Micros, at: number) {
    this.sql.exec(
      `INSERT OR IGNORE INTO charges (op_id, meter, key_id, quantity, unit_price, amount, ref, from_at, to_at, at)
       VALUES (?, 'compute', ?, 1, ?, ?, ?, ?, ?, ?)`,
      opId,
      keyId,
      amount,
      amount,
      holdId,
      at,
      at,
      at,
    );
    this.sql.exec(
      `INSERT OR IGNORE INTO usage_events (id, kind, bytes, amount, cid, key_id, ref, at)
       VALUES (?, 'compute.captured', 0, ?, NULL, ?, ?, ?)`,
      `compute:${opId}`,
      amount,
      keyId,
      holdId,
      at,
    );
  }

  /**
   * Starts the grace period when something is owed while data is stored, ends it when nothing
   * is owed. Returns the state after.
   */
  updateGrace(now: number, graceMs: number): MeteringState {
    const state = this.state();
    const owed = this.owed();
    if (owed > 0 && this.storedBytes() > 0) {
      if (state.grace_until === null) {
        this.sql.exec("UPDATE metering SET grace_until = ? WHERE id = 1", now + graceMs);
      }
    } else if (state.grace_until !== null) {
      this.sql.exec("UPDATE metering SET grace_until = NULL WHERE id = 1");
    }
    return this.state();
  }

  // --- outbox -----------------------------------------------------------------------------------

  /** Rows whose delivery is due at `now`. */
  pending(now: number) {
    return this.sql
      .exec<{
        op_id: string;
        kind: "revenue" | "release";
        meter: string | null;
        amount: number | null;
        ref: string | null;
        attempts: number;
      }>("SELECT * FROM outbox WHERE next_at <= ? ORDER BY next_at, op_id LIMIT 64", now)
      .toArray();
  }

  delivered(opId: string): void {
    this.sql.exec("DELETE FROM outbox WHERE op_id = ?", opId);
  }

  /** Backs off a failed delivery: 5 s, 10 s, … up to an hour. */
  failed(opId: string, attempts: number, now: number): void {
    const wait = Math.min(HOUR_MS, 5_000 * 2 ** Math.min(attempts, 20));
    this.sql.exec(
      "UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE op_id = ?",
      now + wait,
      opId,
    );
  }

  nextOutboxAt(): number | null {
    return (
      one<{ at: number | null }>(this.sql, "SELECT MIN(next_at) AS at FROM outbox")?.at ?? null
    );
  }

  /** Revenue debited here and not yet credited to the Treasury (in the outbox). */
  undeliveredRevenue(): Micros {
    return (one<{ n: number | null }>(
      this.sql,
      "SELECT SUM(amount) AS n FROM outbox WHERE kind = 'revenue'",
    )?.n ?? 0) as Micros;
  }
}
