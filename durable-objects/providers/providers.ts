import { DurableObject } from "cloudflare:workers";
import { randomBase32 } from "../../protocol/ids.ts";
import { HEARTBEAT_SECONDS } from "../../protocol/providers.ts";
import type { Env } from "../../workers/env.ts";
import { migrate, one } from "../sql.ts";

/** A provider's registration is stale (not chosen, not asked by the gateway) after this long. */
const STALE_MS = 3 * HEARTBEAT_SECONDS * 1000;

const MIGRATIONS = [
  // One row per storage provider (a Solana address). `reserved` is what the registry has placed
  // on it and not yet been told to drop; `free` is what the provider last said its disk has. Its
  // room is the smaller of capacity − reserved and free.
  `CREATE TABLE providers (
     address        TEXT PRIMARY KEY,
     url            TEXT NOT NULL,
     capacity       INTEGER NOT NULL CHECK (capacity >= 0),
     free           INTEGER NOT NULL CHECK (free >= 0),
     reserved       INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
     registered_at  INTEGER NOT NULL,
     seen_at        INTEGER NOT NULL,
     failures       INTEGER NOT NULL DEFAULT 0
   );
   -- Which providers hold a proven replica of which pin's content (for the gateway's fallback).
   CREATE TABLE holdings (
     cid       TEXT NOT NULL,
     provider  TEXT NOT NULL,
     PRIMARY KEY (cid, provider)
   );
   CREATE INDEX holdings_provider ON holdings (provider);`,
  // The bearer token the platform's calls to a provider carry (made at its first registration,
  // handed back on every signed registration, never shown elsewhere).
  `ALTER TABLE providers ADD COLUMN token TEXT;`,
];

export interface ProviderRow {
  address: string;
  url: string;
  capacity: number;
  free: number;
  reserved: number;
  registered_at: number;
  seen_at: number;
  failures: number;
}

export interface ChosenProvider {
  address: string;
  url: string;
  /** What the platform's calls to it carry (`authorization: Bearer`). */
  token: string;
}

/**
 * The storage provider registry, one object named `providers`: who offers how much space where,
 * and which providers hold proven copies of what. `choose` reserves space as it picks, so two
 * pins placed at once never count the same free bytes twice.
 */
export class Providers extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /** Registers or refreshes a provider (the route has checked its signature); its call token. */
  register(
    p: { address: string; url: string; capacity: number; free: number },
    now: number,
  ): string {
    this.sql.exec(
      `INSERT INTO providers (address, url, capacity, free, registered_at, seen_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (address) DO UPDATE SET url = excluded.url, capacity = excluded.capacity,
         free = excluded.free, seen_at = excluded.seen_at`,
      p.address,
      p.url,
      p.capacity,
      p.free,
      now,
      now,
    );
    this.sql.exec(
      "UPDATE providers SET token = ? WHERE address = ? AND token IS NULL",
      randomBase32(32),
      p.address,
    );
    return one<{ token: string }>(
      this.sql,
      "SELECT token FROM providers WHERE address = ?",
      p.address,
    )?.token as string;
  }

  /**
   * Picks up to `n` distinct live providers with room for `size` bytes, none of `exclude`, most
   * room first, and reserves `size` on each. Fewer than `n` when fewer fit.
   */
  choose(n: number, size: number, exclude: string[], now: number): ChosenProvider[] {
    return this.ctx.storage.transactionSync(() => {
      const rows = this.sql
        .exec<{ address: string; url: string; token: string; room: number }>(
          `SELECT address, url, token, MIN(capacity - reserved, free) AS room FROM providers
           WHERE seen_at >= ? AND MIN(capacity - reserved, free) >= ?
           ORDER BY room DESC, failures ASC, address`,
          now - STALE_MS,
          size,
        )
        .toArray()
        .filter((r) => !exclude.includes(r.address))
        .slice(0, Math.max(0, n));
      for (const r of rows) {
        this.sql.exec(
          "UPDATE providers SET reserved = reserved + ? WHERE address = ?",
          size,
          r.address,
        );
      }
      return rows.map((r) => ({ address: r.address, url: r.url, token: r.token }));
    });
  }

  /** Gives back a reservation (a replica dropped or released). */
  unreserve(address: string, size: number, cid: string): void {
    this.sql.exec(
      "UPDATE providers SET reserved = MAX(reserved - ?, 0) WHERE address = ?",
      size,
      address,
    );
    this.sql.exec("DELETE FROM holdings WHERE cid = ? AND provider = ?", cid, address);
  }

  /** Records the outcome of a challenge: proven replicas are where the gateway looks. */
  proven(address: string, cid: string, ok: boolean): void {
    if (ok) {
      this.sql.exec("INSERT OR IGNORE INTO holdings (cid, provider) VALUES (?, ?)", cid, address);
    } else {
      this.sql.exec("DELETE FROM holdings WHERE cid = ? AND provider = ?", cid, address);
      this.sql.exec("UPDATE providers SET failures = failures + 1 WHERE address = ?", address);
    }
  }

  /** Live providers with room for `size` bytes. */
  available(size: number, now: number): number {
    return (
      one<{ n: number }>(
        this.sql,
        `SELECT COUNT(*) AS n FROM providers
         WHERE seen_at >= ? AND MIN(capacity - reserved, free) >= ?`,
        now - STALE_MS,
        size,
      )?.n ?? 0
    );
  }

  /**
   * Live providers to ask for a block, those holding a proven replica of `cid` (when given) first,
   * then any other live provider holding proven replicas: a block's own CID does not say which
   * pin it belongs to.
   */
  sources(now: number, cid?: string, limit = 4): { address: string; url: string }[] {
    return this.sql
      .exec<{ address: string; url: string }>(
        `SELECT p.address, p.url FROM providers p
         WHERE p.seen_at >= ? AND EXISTS (SELECT 1 FROM holdings h WHERE h.provider = p.address)
         ORDER BY EXISTS (SELECT 1 FROM holdings h WHERE h.provider = p.address AND h.cid = ?) DESC,
           p.failures ASC, p.address
         LIMIT ?`,
        now - STALE_MS,
        cid ?? "",
        limit,
      )
      .toArray();
  }

  /** Where each provider is now (it may have moved since a replica was placed) and its token. */
  contacts(addresses: string[]): Record<string, ChosenProvider> {
    const out: Record<string, ChosenProvider> = {};
    for (const address of addresses) {
      const row = one<{ url: string; token: string }>(
        this.sql,
        "SELECT url, token FROM providers WHERE address = ?",
        address,
      );
      if (row) out[address] = { address, url: row.url, token: row.token };
    }
    return out;
  }

  get(address: string): ProviderRow | null {
    return (
      one<ProviderRow & Record<string, SqlStorageValue>>(
        this.sql,
        "SELECT * FROM providers WHERE address = ?",
        address,
      ) ?? null
    );
  }

  list(): ProviderRow[] {
    return this.sql
      .exec<ProviderRow & Record<string, SqlStorageValue>>(
        "SELECT * FROM providers ORDER BY address",
      )
      .toArray();
  }
}
