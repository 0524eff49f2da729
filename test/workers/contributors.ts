import { base58btc } from "multiformats/bases/base58";
import { expect } from "vitest";
import { authMessage, type Pool } from "../../protocol/contributor.ts";
import { api } from "./helpers.ts";

/** A contributor as a real WebSocket client would be: frames in, frames out. */
export async function connect(pool: Pool = "browser") {
  const res = await api(`/v1/contribute?pool=${pool}`, { headers: { upgrade: "websocket" } });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error("no WebSocket in the 101 response");
  const inbox: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number } | undefined;
  ws.addEventListener("message", (e) => {
    inbox.push(JSON.parse(e.data as string));
    for (const w of waiters.splice(0)) w();
  });
  ws.addEventListener("close", (e) => {
    closed = { code: e.code };
    for (const w of waiters.splice(0)) w();
  });
  ws.accept();
  const next = async () => {
    while (inbox.length === 0) await new Promise<void>((r) => waiters.push(r));
    return inbox.shift() as Record<string, unknown>;
  };
  const whenClosed = async () => {
    while (!closed) await new Promise<void>((r) => waiters.push(r));
    return closed;
  };
  return { ws, next, whenClosed, send: (frame: unknown) => ws.send(JSON.stringify(frame)) };
}

export async function keypair() {
  const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer);
  const address = base58btc.baseEncode(raw);
  const sign = async (bytes: Uint8Array<ArrayBuffer>) => {
    const sig = new Uint8Array(
      await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, bytes),
    );
    return btoa(String.fromCharCode(...sig));
  };
  return { address, sign };
}

/**
 * Connects, authenticates with a fresh key and declares `slots` (and `batch` tasks per slot, when
 * given); returns the socket and key.
 */
export async function contributor(pool: Pool, slots = 1, batch?: number) {
  const c = await connect(pool);
  const challenge = await c.next();
  const me = await keypair();
  const signature = await me.sign(authMessage(challenge.nonce as string, pool));
  c.send({ type: "auth", version: 1, address: me.address, signature, capabilities: {} });
  expect(await c.next()).toMatchObject({ type: "welcome", address: me.address });
  c.send({ type: "ready", slots, ...(batch ? { batch } : {}) });
  return { ...c, address: me.address };
}
