import type { Micros } from "../../protocol/money.ts";
import { one } from "../sql.ts";

/**
 * Monthly spend caps, for the account (`scope = 'account'`) and per API key (`scope = key id`),
 * in USDC base units per calendar month (UTC).
 *
 * What counts as spent in a month: usage charged in it (storage, egress, compute captures), usage
 * owed and not yet debited, and what open holds still reserve (a running job's escrow), so a cap
 * is never passed by starting many jobs at once. A key's spend is what its own requests caused.
 */
export type CapRefusal = { ok: false; code: "spend_cap_exceeded"; detail: string };

export interface CapView {
  monthly_limit: Micros | null;
  spent: Micros;
}

/** The calendar month (UTC) holding `at`: `[start, end)` in epoch ms and its `YYYY-MM` name. */
export function monthOf(at: number): { period: string; start: number; end: number } {
  const d = new Date(at);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { period: new Date(start).toISOString().slice(0, 7), start, end };
}

export class SpendCaps {
  constructor(private readonly sql: SqlStorage) {}

  limit(scope: string): Micros | null {
    return (one<{ monthly_limit: number }>(
      this.sql,
      "SELECT monthly_limit FROM spend_caps WHERE scope = ?",
      scope,
    )?.monthly_limit ?? null) as Micros | null;
  }

  set(scope: string, limit: Micros | null): void {
    if (limit === null) this.sql.exec("DELETE FROM spend_caps WHERE scope = ?", scope);
    else {
      this.sql.exec(
        "INSERT INTO spend_caps (scope, monthly_limit) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET monthly_limit = excluded.monthly_limit",
        scope,
        limit,
      );
    }
  }

  /** Spent in the month holding `now`: charged + owed + reserved by open holds. */
  spent(now: number, keyId?: string): Micros {
    const { start, end } = monthOf(now);
    const key = keyId === undefined ? "" : " AND key_id = ?";
    const binds = keyId === undefined ? [] : [keyId];
    const sum = (q: string, ...b: unknown[]) =>
      one<{ n: number | null }>(this.sql, q, ...b)?.n ?? 0;
    return (sum(
      `SELECT SUM(amount) AS n FROM charges WHERE at >= ? AND at < ?${key}`,
      start,
      end,
      ...binds,
    ) +
      sum(`SELECT SUM(due) AS n FROM meter_due WHERE 1${key}`, ...binds) +
      sum(
        `SELECT SUM(amount - captured) AS n FROM holds WHERE status = 'open'${key}`,
        ...binds,
      )) as Micros;
  }

  view(scope: string, now: number): CapView {
    return {
      monthly_limit: this.limit(scope),
      spent: this.spent(now, scope === "account" ? undefined : scope),
    };
  }

  /**
   * Refuses `amount` more this month if it would take the account or the key past its cap.
   * `amount = 0` asks whether a cap is already reached.
   */
  check(now: number, keyId: string | null, amount: Micros): CapRefusal | undefined {
    const scopes = keyId ? ["account", keyId] : ["account"];
    for (const scope of scopes) {
      const limit = this.limit(scope);
      if (limit === null) continue;
      const spent = this.spent(now, scope === "account" ? undefined : scope);
      if (spent + amount > limit || (amount === 0 && spent >= limit)) {
        const who = scope === "account" ? "the account's" : `key ${scope}'s`;
        return {
          ok: false,
          code: "spend_cap_exceeded",
          detail: `${amount > 0 ? `${amount} more` : "Anything more"} would pass ${who} monthly spend cap of ${limit} USDC base units (${spent} spent or reserved in ${monthOf(now).period})`,
        };
      }
    }
    return undefined;
  }
}
