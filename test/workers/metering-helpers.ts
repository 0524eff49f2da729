import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { ONE_SPHERE_SCENE } from "../fixtures/scenes.ts";
import { api, bearer, jsonInit } from "./helpers.ts";

/** The account's Durable Object, for what a test drives directly (a Job's capture, time). */
export function accountObject(accountId: string) {
  return env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
}

/** Stores `bytes` with `apiKey`; returns the upload as the API answered it. */
export async function upload(apiKey: string, bytes: Uint8Array<ArrayBuffer> | string) {
  const res = await api("/v1/uploads", {
    method: "POST",
    headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
    body: bytes,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as {
    cid: string;
    dag_size: number;
    created_at: string;
    grace_until: string | null;
  };
}

/** A second key of the account, with the given scopes. */
export async function newKey(apiKey: string, scopes: string[]) {
  const res = await api("/v1/keys", jsonInit("POST", { scopes }, bearer(apiKey)));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; api_key: string };
}

/** Reads a CID through the gateway with a key, to the end of the body. */
export async function read(cid: string, apiKey: string): Promise<number> {
  const res = await api(`/ipfs/${cid}`, { headers: bearer(apiKey) });
  expect(res.status).toBe(200);
  return (await res.arrayBuffer()).byteLength;
}

/** Gateway usage is recorded after the response (waitUntil): waits for `n` served events. */
export async function servedEvents(accountId: string, n: number) {
  const account = accountObject(accountId);
  for (let i = 0; i < 200; i++) {
    const events = (await account.usageEvents()).filter((e) => e.kind === "gateway.served");
    if (events.length >= n) return events;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${n} gateway.served events recorded`);
}

/** Deterministic bytes that do not compress into a single block. */
export function bytesOf(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export const GIB = 1024 ** 3;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** The deployment's prices under test (wrangler.toml defaults). */
export const STORAGE_PRICE = 4_000; // per GiB-month (30 days)
export const EGRESS_PRICE = 10_000; // per GiB

/** Exact storage cost in base units, rounded down: bytes × ms × price / (GiB × 30 days). */
export function storageCost(bytes: number, ms: number): number {
  return Number(
    (BigInt(bytes) * BigInt(ms) * BigInt(STORAGE_PRICE)) / (BigInt(GIB) * BigInt(30 * DAY)),
  );
}

/** What the Treasury has credited as revenue from one account (storage and egress). */
export async function revenueFrom(accountId: string): Promise<number> {
  const treasury = env.TREASURY.get(env.TREASURY.idFromName("treasury"));
  return runInDurableObject(treasury, (_t, state) => {
    const row = state.storage.sql
      .exec<{ n: number }>(
        "SELECT COALESCE(SUM(amount), 0) AS n FROM revenue WHERE account = ?",
        accountId,
      )
      .one();
    return row.n;
  });
}

/** A small render job (one sphere, 64×64, 4 samples per pixel) that billing tests place. */
export const render = {
  kind: "render",
  width: 64,
  height: 64,
  samples_per_pixel: 4,
  scene: ONE_SPHERE_SCENE,
};
