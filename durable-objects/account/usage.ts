import { USAGE_UNITS, type UsageMeter, type UsageReport } from "../../protocol/metering.ts";
import { DAY_MS, HOUR_MS, storageByteMs } from "./metering.ts";

/**
 * Usage per meter in hourly or daily windows (UTC), from the account's usage events: each event
 * has one id, so a retried recording never counts twice. `storage` integrates bytes held over
 * time (byte-hours), `egress` sums bytes served, `compute` sums base units captured at
 * settlement. With a key id, only what that key caused (its uploads, reads and jobs).
 */
export const MAX_WINDOWS = { hour: 24 * 31, day: 366 } as const;

export interface UsageQuery {
  meter: UsageMeter;
  from: number;
  to: number;
  window: "hour" | "day";
  keyId?: string | undefined;
  /** Storage is counted up to this time (now): held bytes are not usage until time passes. */
  now: number;
}

/** `[from, to)` widened to whole windows. */
export function alignWindows(from: number, to: number, window: "hour" | "day") {
  const size = window === "hour" ? HOUR_MS : DAY_MS;
  const start = Math.floor(from / size) * size;
  const end = Math.max(start + size, Math.ceil(to / size) * size);
  return { start, end, size, count: (end - start) / size };
}

export function usageReport(sql: SqlStorage, q: UsageQuery): UsageReport {
  const { start, end, size, count } = alignWindows(q.from, q.to, q.window);
  const quantities = new Array<number>(count).fill(0);
  if (q.meter === "storage") {
    for (let i = 0; i < count; i++) {
      const ws = start + i * size;
      const we = Math.min(ws + size, q.now);
      if (we <= ws) break;
      let byteMs = 0n;
      for (const v of storageByteMs(sql, ws, we, q.keyId).values()) {
        byteMs += v;
      }
      quantities[i] = Number(byteMs) / HOUR_MS;
    }
  } else {
    const kind = q.meter === "egress" ? "gateway.served" : "compute.captured";
    const column = q.meter === "egress" ? "bytes" : "amount";
    const key = q.keyId === undefined ? "" : " AND key_id = ?";
    const rows = sql
      .exec<{ bucket: number; n: number }>(
        `SELECT CAST((at - ?) / ? AS INTEGER) AS bucket, SUM(${column}) AS n FROM usage_events
         WHERE kind = ? AND at >= ? AND at < ?${key} GROUP BY bucket`,
        start,
        size,
        kind,
        start,
        end,
        ...(q.keyId === undefined ? [] : [q.keyId]),
      )
      .toArray();
    for (const r of rows) quantities[r.bucket] = (quantities[r.bucket] ?? 0) + r.n;
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    meter: q.meter,
    unit: USAGE_UNITS[q.meter],
    window: q.window,
    key_id: q.keyId ?? null,
    from: iso(start),
    to: iso(end),
    data: quantities.map((quantity, i) => ({
      start: iso(start + i * size),
      end: iso(start + (i + 1) * size),
      quantity,
    })),
    total: quantities.reduce((a, b) => a + b, 0),
  };
}
