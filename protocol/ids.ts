/**
 * Identifiers that must never be mixed up are branded strings, checked where they enter.
 *
 * Every id is a type prefix and 20 characters of lowercase RFC 4648 base32 (100 random bits), so
 * an id says what it names in logs and can be validated without a database round-trip.
 */
export type AccountId = string & { readonly __brand: "AccountId" };
export type KeyId = string & { readonly __brand: "KeyId" };

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const ID_BODY = "[a-z2-7]{20}";

export const ACCOUNT_ID_PATTERN = new RegExp(`^acct_${ID_BODY}$`);
export const KEY_ID_PATTERN = new RegExp(`^key_${ID_BODY}$`);

/** `tsk_<account body>_<key body><32 secret chars>`: the account is readable, the secret is not. */
export const API_KEY_PATTERN = /^tsk_([a-z2-7]{20})_([a-z2-7]{20})([a-z2-7]{32})$/;

/** Lowercase base32 of `length` characters from the platform CSPRNG. */
export function randomBase32(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

/** Encodes bytes as lowercase base32 (no padding), 5 bits a character. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function newAccountId(): AccountId {
  return `acct_${randomBase32(20)}` as AccountId;
}

export function isAccountId(s: string): s is AccountId {
  return ACCOUNT_ID_PATTERN.test(s);
}

export function isKeyId(s: string): s is KeyId {
  return KEY_ID_PATTERN.test(s);
}

/** The parts of a well-formed API key, or `null`; says nothing about whether the key is valid. */
export function parseApiKey(key: string): { accountId: AccountId; keyId: KeyId } | null {
  const m = API_KEY_PATTERN.exec(key);
  if (!m) return null;
  return { accountId: `acct_${m[1]}` as AccountId, keyId: `key_${m[2]}` as KeyId };
}

/** A fresh API key for an account: returns the secret once; only its hash is ever stored. */
export function newApiKey(accountId: AccountId): { keyId: KeyId; apiKey: string; prefix: string } {
  const keyBody = randomBase32(20);
  const prefix = `tsk_${accountId.slice(5)}_${keyBody}`;
  return { keyId: `key_${keyBody}` as KeyId, apiKey: `${prefix}${randomBase32(32)}`, prefix };
}
