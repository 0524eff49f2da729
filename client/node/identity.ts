import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { base58btc } from "multiformats/bases/base58";
import { type Identity, toBase64 } from "./contributor-client.ts";

/**
 * The node's ed25519 key, kept in a file (mode 0600) so the node keeps its address — and its
 * record and earnings — across restarts. The file holds the PKCS#8 private key and the public
 * key, base64, as JSON. Made on first use.
 */
export async function identityFromFile(path: string): Promise<Identity> {
  let stored: { pkcs8: string; public: string } | null = null;
  try {
    stored = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    stored = null;
  }
  let privateKey: CryptoKey;
  let publicRaw: Uint8Array;
  if (stored) {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      Buffer.from(stored.pkcs8, "base64"),
      { name: "Ed25519" },
      false,
      ["sign"],
    );
    publicRaw = Buffer.from(stored.public, "base64");
  } else {
    const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    privateKey = keys.privateKey;
    publicRaw = new Uint8Array(
      (await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer,
    );
    const pkcs8 = new Uint8Array(
      (await crypto.subtle.exportKey("pkcs8", keys.privateKey)) as ArrayBuffer,
    );
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, JSON.stringify({ pkcs8: toBase64(pkcs8), public: toBase64(publicRaw) }), {
      mode: 0o600,
    });
  }
  return {
    address: base58btc.baseEncode(publicRaw),
    async sign(message) {
      return toBase64(
        new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, message)),
      );
    },
  };
}
