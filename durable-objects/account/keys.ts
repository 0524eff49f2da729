import type { ApiKeyInfo, Scope } from "../../protocol/accounts.ts";
import { hex, sha256 } from "../../protocol/digest.ts";
import { type AccountId, type KeyId, newApiKey } from "../../protocol/ids.ts";
import { one } from "../sql.ts";

/**
 * API keys of one account. Only a SHA-256 of each key is stored: keys carry 160 random bits, so a
 * fast hash is enough (a slow password hash protects low-entropy secrets, which these are not).
 */
interface KeyRow extends Record<string, SqlStorageValue> {
  id: string;
  prefix: string;
  hash: string;
  name: string | null;
  scopes: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface MintedKey {
  keyId: KeyId;
  apiKey: string;
  prefix: string;
  hash: string;
  scopes: Scope[];
  name: string | undefined;
}

export interface Principal {
  accountId: AccountId;
  keyId: KeyId;
  scopes: Scope[];
}

/** How often `last_used_at` is written: at most once a minute per key, not on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export async function sha256Hex(text: string): Promise<string> {
  return hex(await sha256(text));
}

export class Keys {
  constructor(
    private readonly sql: SqlStorage,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Makes a new key and its hash without writing anything, so the caller can store it in the same
   * synchronous transaction as whatever else must happen with it.
   */
  async mint(accountId: AccountId, scopes: readonly Scope[], name?: string): Promise<MintedKey> {
    const { keyId, apiKey, prefix } = newApiKey(accountId);
    return {
      keyId,
      apiKey,
      prefix,
      hash: await sha256Hex(apiKey),
      scopes: [...new Set(scopes)],
      name,
    };
  }

  /** Stores a minted key and returns it with its secret, which is never readable again. */
  insert(key: MintedKey): ApiKeyInfo & { api_key: string } {
    this.sql.exec(
      "INSERT INTO api_keys (id, prefix, hash, name, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      key.keyId,
      key.prefix,
      key.hash,
      key.name ?? null,
      key.scopes.join(" "),
      this.now(),
    );
    const info = this.get(key.keyId);
    if (!info) throw new Error("key vanished after insert");
    return { ...info, api_key: key.apiKey };
  }

  get(keyId: string): ApiKeyInfo | undefined {
    const row = one<KeyRow>(this.sql, "SELECT * FROM api_keys WHERE id = ?", keyId);
    return row && toInfo(row);
  }

  list(): ApiKeyInfo[] {
    return this.sql
      .exec<KeyRow>("SELECT * FROM api_keys ORDER BY created_at DESC, id")
      .toArray()
      .map(toInfo);
  }

  /** Marks a key revoked; revoking twice keeps the first revocation time. */
  revoke(keyId: string): ApiKeyInfo | undefined {
    this.sql.exec(
      "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
      this.now(),
      keyId,
    );
    return this.get(keyId);
  }

  /** The principal for a presented key, or `undefined` when it is unknown or revoked. */
  async authenticate(accountId: AccountId, apiKey: string): Promise<Principal | undefined> {
    const hash = await sha256Hex(apiKey);
    const row = one<KeyRow>(this.sql, "SELECT * FROM api_keys WHERE hash = ?", hash);
    if (!row || row.revoked_at !== null) return undefined;
    const now = this.now();
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
      this.sql.exec("UPDATE api_keys SET last_used_at = ? WHERE id = ?", now, row.id);
    }
    return { accountId, keyId: row.id as KeyId, scopes: row.scopes.split(" ") as Scope[] };
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toInfo(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    scopes: row.scopes.split(" ") as Scope[],
    created_at: new Date(row.created_at).toISOString(),
    revoked_at: iso(row.revoked_at),
    last_used_at: iso(row.last_used_at),
  };
}
