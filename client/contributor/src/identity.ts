import { base58btc } from "multiformats/bases/base58";

/**
 * Who this tab contributes as. Either a key made in the tab (ed25519, non-extractable, kept in
 * IndexedDB so the same browser keeps its address, record and earnings) or a Solana wallet
 * found through the Wallet Standard (`wallet-standard:app-ready` / `register-wallet` events),
 * which signs the handshake message with `solana:signMessage`.
 */
export interface TabKey {
  kind: "tab";
  address: string;
  key: CryptoKey;
}

const DB = "tessera-contributor";
const STORE = "keys";

function database(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The tab's key, made (and stored) on first use. */
export async function tabKey(): Promise<TabKey> {
  const db = await database();
  const stored = await request<{ address: string; key: CryptoKey } | undefined>(
    db.transaction(STORE).objectStore(STORE).get("identity"),
  );
  if (stored) return { kind: "tab", ...stored };
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const identity = { address: base58btc.baseEncode(raw), key: pair.privateKey };
  await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(identity, "identity"));
  return { kind: "tab", ...identity };
}

/** The Wallet Standard, reduced to what the page uses. */
interface StandardWallet {
  name: string;
  icon: string;
  features: Record<string, unknown>;
  accounts: readonly { address: string; publicKey: Uint8Array }[];
}
interface ConnectFeature {
  connect(): Promise<{ accounts: readonly { address: string; publicKey: Uint8Array }[] }>;
}
interface SignMessageFeature {
  signMessage(
    ...inputs: { account: { address: string; publicKey: Uint8Array }; message: Uint8Array }[]
  ): Promise<{ signature: Uint8Array }[]>;
}

/** Wallets that can connect and sign messages, as they register with the page. */
export function watchWallets(onChange: (wallets: StandardWallet[]) => void): void {
  const wallets: StandardWallet[] = [];
  const register = (...found: StandardWallet[]) => {
    for (const w of found) {
      if (
        w.features["standard:connect"] &&
        w.features["solana:signMessage"] &&
        !wallets.includes(w)
      )
        wallets.push(w);
    }
    onChange([...wallets]);
    return () => {};
  };
  const api = { register };
  // The protocol: wallets announce themselves; the app announces it is ready for them.
  window.addEventListener("wallet-standard:register-wallet", ((event: CustomEvent) => {
    (event.detail as (api: { register: typeof register }) => void)(api);
  }) as EventListener);
  window.dispatchEvent(
    new CustomEvent("wallet-standard:app-ready", { detail: api }) as unknown as Event,
  );
}

/** Connects a wallet and returns its address and a signer for the handshake. */
export async function connectWallet(wallet: StandardWallet) {
  const { accounts } = await (wallet.features["standard:connect"] as ConnectFeature).connect();
  const account = accounts[0];
  if (!account) throw new Error(`${wallet.name} shared no account`);
  const signer = wallet.features["solana:signMessage"] as SignMessageFeature;
  return {
    kind: "wallet" as const,
    name: wallet.name,
    address: account.address,
    async sign(message: Uint8Array): Promise<string> {
      const [out] = await signer.signMessage({ account, message });
      if (!out) throw new Error("no signature");
      let s = "";
      for (const b of out.signature) s += String.fromCharCode(b);
      return btoa(s);
    },
  };
}

export type { StandardWallet };
