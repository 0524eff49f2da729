import { createKeyPairSignerFromBytes, getBase58Encoder, type KeyPairSigner } from "@solana/kit";
import "./runtime.ts";

/**
 * The treasury's signer from its Worker secret. Accepts the two forms Solana tools write for a
 * 64-byte keypair (32-byte seed then 32-byte public key): `solana-keygen`'s JSON array of numbers,
 * or the same bytes in base58 (what wallets export). kit checks that the public half matches the
 * seed, so a corrupted secret fails here rather than signing for the wrong address. The private
 * key is imported non-extractable.
 *
 * @example
 * const treasury = await treasurySigner(env.TREASURY_KEY); // wrangler secret put TREASURY_KEY
 */
export async function treasurySigner(secret: string): Promise<KeyPairSigner> {
  const text = secret.trim();
  let bytes: Uint8Array;
  if (text.startsWith("[")) {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed) || !parsed.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
      throw new Error("treasury key: a JSON keypair is an array of byte values");
    }
    bytes = Uint8Array.from(parsed as number[]);
  } else {
    bytes = new Uint8Array(getBase58Encoder().encode(text));
  }
  if (bytes.length !== 64) {
    throw new Error(
      `treasury key: a keypair is 64 bytes (seed and public key), got ${bytes.length}`,
    );
  }
  return createKeyPairSignerFromBytes(bytes);
}
