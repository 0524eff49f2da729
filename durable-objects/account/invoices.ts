import type { Invoice, InvoiceSummary } from "../../protocol/metering.ts";
import type { Micros } from "../../protocol/money.ts";
import { one } from "../sql.ts";
import { GIB, MONTH_MS } from "./metering.ts";
import { monthOf } from "./spend-caps.ts";

/**
 * Monthly statements built from the journal itself: every debit and capture dated in the month
 * is in exactly one line, so the lines add up to the journal to the base unit. The `charges` row
 * of the same op id says what a debit paid for; storage and egress charges are grouped per meter
 * and unit price, compute is one line per job, and a debit no meter made (none today) is listed
 * on its own as `other`. Credits (trial, deposits) are listed apart.
 */
interface Row extends Record<string, SqlStorageValue> {
  op_id: string;
  amount: number;
  memo: string | null;
  at: number;
  meter: "storage" | "egress" | "compute" | null;
  quantity: number | null;
  unit_price: number | null;
  ref: string | null;
  from_at: number | null;
  to_at: number | null;
}

type Line = Invoice["lines"][number];

const iso = (ms: number) => new Date(ms).toISOString();

/** `2026-11` → its bounds, or undefined for a malformed period. */
export function periodBounds(period: string): { start: number; end: number } | undefined {
  const m = /^(\d{4})-(\d{2})$/.exec(period);
  if (!m) return undefined;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
  return { start, end: Date.UTC(Number(m[1]), Number(m[2]), 1) };
}

export function invoice(sql: SqlStorage, period: string, now: number): Invoice {
  const bounds = periodBounds(period);
  if (!bounds) throw new Error(`not a period: ${period}`);
  const { start, end } = bounds;
  const rows = sql
    .exec<Row>(
      `SELECT j.op_id, j.amount, j.memo, j.at, c.meter, c.quantity, c.unit_price, c.ref,
              c.from_at, c.to_at
       FROM journal j LEFT JOIN charges c ON c.op_id = j.op_id
       WHERE j.kind IN ('debit', 'capture') AND j.at >= ? AND j.at < ? AND j.amount > 0
       ORDER BY j.seq`,
      start,
      end,
    )
    .toArray();
  const grouped = new Map<string, Line>();
  const lines: Line[] = [];
  for (const r of rows) {
    const from = r.from_at ?? r.at;
    const to = r.to_at ?? r.at;
    if (r.meter === "storage" || r.meter === "egress") {
      const id = `${r.meter}:${r.unit_price}`;
      const quantity =
        r.meter === "storage"
          ? (r.quantity ?? 0) / ((GIB * MONTH_MS) / 3_600_000)
          : (r.quantity ?? 0) / GIB;
      const line = grouped.get(id);
      if (line) {
        line.quantity += quantity;
        line.amount = (line.amount + r.amount) as Micros;
        line.period.start = iso(Math.min(Date.parse(line.period.start), from));
        line.period.end = iso(Math.max(Date.parse(line.period.end), to));
      } else {
        const fresh: Line = {
          meter: r.meter,
          description: r.meter === "storage" ? "Storage held" : "Gateway egress",
          quantity,
          unit: r.meter === "storage" ? "GiB-month" : "GiB",
          unit_price: (r.unit_price ?? 0) as Micros,
          amount: r.amount as Micros,
          period: { start: iso(from), end: iso(to) },
        };
        grouped.set(id, fresh);
        lines.push(fresh);
      }
    } else {
      lines.push({
        meter: r.meter === "compute" ? "compute" : "other",
        description: r.meter === "compute" ? `Job ${r.ref}` : (r.memo ?? r.op_id),
        quantity: 1,
        unit: r.meter === "compute" ? "job" : "charge",
        unit_price: r.amount as Micros,
        amount: r.amount as Micros,
        period: { start: iso(from), end: iso(to) },
      });
    }
  }
  const credits = sql
    .exec<{ op_id: string; amount: number; memo: string | null; at: number }>(
      "SELECT op_id, amount, memo, at FROM journal WHERE kind = 'credit' AND at >= ? AND at < ? ORDER BY seq",
      start,
      end,
    )
    .toArray()
    .map((c) => ({
      op_id: c.op_id,
      description: c.memo,
      amount: c.amount as Micros,
      at: iso(c.at),
    }));
  return {
    period,
    status: now < end ? "open" : "closed",
    currency: "USDC",
    decimals: 6,
    lines,
    total: lines.reduce((n, l) => n + l.amount, 0) as Micros,
    credits,
    credits_total: credits.reduce((n, c) => n + c.amount, 0) as Micros,
  };
}

/** One summary per month from the account's first journal entry to `now`, newest first. */
export function invoiceList(sql: SqlStorage, now: number): InvoiceSummary[] {
  const first = one<{ at: number | null }>(sql, "SELECT MIN(at) AS at FROM journal")?.at ?? null;
  if (first === null) return [];
  const out: InvoiceSummary[] = [];
  for (let m = monthOf(now); m.end > first; m = monthOf(m.start - 1)) {
    const { period, status, total, credits_total } = invoice(sql, m.period, now);
    out.push({ period, status, total, credits_total });
  }
  return out;
}
