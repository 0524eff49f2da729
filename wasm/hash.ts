// The three BLAKE3 modes (hash, keyed hash, key derivation) as one-shot functions and as
// streaming hashers.
import { Blake3Hasher, type Hasher } from "./hasher.ts";
import { DERIVE_KEY_CONTEXT, DERIVE_KEY_MATERIAL, IV_KEY, KEYED_HASH } from "./kernel.ts";

export type { Hasher } from "./hasher.ts";

/** Options of `createHasher`: at most one of a 32-byte key or a key-derivation context. */
export interface HasherOptions {
  key?: Uint8Array;
  context?: string;
}

function checkKey(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError(`BLAKE3 keys are 32 bytes, got ${key.length}`);
  return key.slice();
}

/** Derives the per-context key once, as the spec's derive_key mode does. */
function contextKey(context: string): Uint8Array {
  const hasher = new Blake3Hasher(IV_KEY, DERIVE_KEY_CONTEXT);
  hasher.update(new TextEncoder().encode(context));
  return hasher.digest(32);
}

/**
 * Starts a streaming hash: plain, keyed (`key`) or key derivation (`context`). Input of any
 * length is hashed as it arrives, holding at most one chunk plus ~1.7 KiB of tree state.
 */
export function createHasher(options: HasherOptions = {}): Hasher {
  if (options.key !== undefined && options.context !== undefined) {
    throw new TypeError("createHasher: pass either key or context, not both");
  }
  if (options.key !== undefined) return new Blake3Hasher(checkKey(options.key), KEYED_HASH);
  if (options.context !== undefined) {
    return new Blake3Hasher(contextKey(options.context), DERIVE_KEY_MATERIAL);
  }
  return new Blake3Hasher(IV_KEY, 0);
}

/** BLAKE3 of `data`; `outLength` above 32 uses the extendable output. */
export function blake3(data: Uint8Array, outLength = 32): Uint8Array {
  const hasher = createHasher();
  hasher.update(data);
  return hasher.digest(outLength);
}

/** BLAKE3 keyed with a 32-byte secret: a MAC/PRF, e.g. for authenticating result digests. */
export function keyedHash(key: Uint8Array, data: Uint8Array, outLength = 32): Uint8Array {
  const hasher = createHasher({ key });
  hasher.update(data);
  return hasher.digest(outLength);
}

/** Derives key material bound to a hard-coded, globally unique `context` string. */
export function deriveKey(context: string, material: Uint8Array, outLength = 32): Uint8Array {
  const hasher = createHasher({ context });
  hasher.update(material);
  return hasher.digest(outLength);
}
