import { base58btc } from "multiformats/bases/base58";
import { authMessage, type Pool } from "../../protocol/contributor.ts";

/**
 * The contributor's proof of key: an ed25519 signature, by the key whose Solana address it
 * claims, over the server's nonce for this connection. A replayed signature fails because every
 * connection gets a fresh nonce.
 */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The 32-byte public key of a Solana address, or `null` if it is not one. */
export function publicKeyOf(address: string): Uint8Array<ArrayBuffer> | null {
  try {
    const key = base58btc.baseDecode(address);
    return key.length === 32 ? Uint8Array.from(key) : null;
  } catch {
    return null;
  }
}

export async function verifyAuth(
  address: string,
  signatureBase64: string,
  nonce: string,
  pool: Pool,
): Promise<boolean> {
  const publicKey = publicKeyOf(address);
  if (!publicKey) return false;
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = Uint8Array.from(atob(signatureBase64), (c) => c.charCodeAt(0));
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
      "verify",
    ]);
    return await crypto.subtle.verify(
      { name: "Ed25519" },
      key,
      signature,
      authMessage(nonce, pool),
    );
  } catch {
    // A point that is not on the curve fails to import: not a valid key, so not a valid proof.
    return false;
  }
}
