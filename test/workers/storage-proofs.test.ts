import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base58btc } from "multiformats/bases/base58";
import { beforeAll, describe, expect, it } from "vitest";
import { Replicas } from "../../durable-objects/pin/replicas.ts";
import {
  chunkCount,
  judge,
  randomChunk,
  toBase64,
} from "../../durable-objects/providers/challenge.ts";
import { periodPay } from "../../durable-objects/providers/pay.ts";
import { hex } from "../../protocol/digest.ts";
import type { Micros } from "../../protocol/money.ts";
import { registrationMessage } from "../../protocol/providers.ts";
import { blake3, init, outboard, proveFromOutboard } from "../../wasm/index.ts";
import { api, expectProblem, jsonInit } from "./helpers.ts";

// Proofs of storage (issue 8): how the platform judges a provider's answer to a challenge, and
// how the registry places replicas. The answers are real: chunk bytes and `proveFromOutboard`
// proofs over a real outboard, checked with the wasm `verify` the Pin object uses.

const SIZE = 10 * 1024 + 300; // 11 chunks, the last one short
const DEADLINE = 30_000;
let data: Uint8Array;
let ob: Uint8Array;
let content: { blake3: string; size: number };

beforeAll(async () => {
  await init();
  data = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
  ob = outboard(data);
  content = { blake3: hex(blake3(data)), size: SIZE };
});

const chunkOf = (i: number) => data.subarray(i * 1024, Math.min((i + 1) * 1024, SIZE));
const honest = (i: number) => ({
  status: "proof",
  chunk: toBase64(chunkOf(i)),
  proof: toBase64(proveFromOutboard(ob, SIZE, i)),
});

describe("a challenge's answer", () => {
  it("passes with the asked chunk and its proof, for every chunk including the short last one", async () => {
    for (let i = 0; i < chunkCount(SIZE); i++) {
      const verdict = await judge(content, { chunk: i, sentAt: 1000 }, honest(i), 1500, DEADLINE);
      expect(verdict).toEqual({ ok: true });
    }
  });

  it("fails with another chunk's bytes and proof (a provider keeping only part of the data)", async () => {
    const verdict = await judge(content, { chunk: 3, sentAt: 0 }, honest(4), 10, DEADLINE);
    expect(verdict).toEqual({ ok: false, pending: false, reason: "wrong_proof" });
  });

  it("fails with the right proof but altered chunk bytes", async () => {
    const altered = chunkOf(5).slice();
    altered[17] = (altered[17] ?? 0) ^ 1;
    const answer = { ...honest(5), chunk: toBase64(altered) };
    const verdict = await judge(content, { chunk: 5, sentAt: 0 }, answer, 10, DEADLINE);
    expect(verdict).toEqual({ ok: false, pending: false, reason: "wrong_proof" });
  });

  it("fails with the right chunk but a wrong proof (another chunk's, or a flipped CV)", async () => {
    const other = { ...honest(6), proof: toBase64(proveFromOutboard(ob, SIZE, 7)) };
    expect(await judge(content, { chunk: 6, sentAt: 0 }, other, 10, DEADLINE)).toEqual({
      ok: false,
      pending: false,
      reason: "wrong_proof",
    });
    const flipped = proveFromOutboard(ob, SIZE, 6).slice();
    flipped[5] = (flipped[5] ?? 0) ^ 0x80;
    const bad = { ...honest(6), proof: toBase64(flipped) };
    expect(await judge(content, { chunk: 6, sentAt: 0 }, bad, 10, DEADLINE)).toEqual({
      ok: false,
      pending: false,
      reason: "wrong_proof",
    });
  });

  it("fails against another root: the proof binds the data to the stored BLAKE3", async () => {
    const elsewhere = { blake3: hex(blake3(data.subarray(1))), size: SIZE };
    expect(await judge(elsewhere, { chunk: 2, sentAt: 0 }, honest(2), 10, DEADLINE)).toMatchObject({
      ok: false,
      reason: "wrong_proof",
    });
  });

  it("fails when late, even if the proof is right", async () => {
    const verdict = await judge(
      content,
      { chunk: 1, sentAt: 1000 },
      honest(1),
      1000 + DEADLINE + 1,
      DEADLINE,
    );
    expect(verdict).toEqual({ ok: false, pending: false, reason: "late" });
    const onTime = await judge(
      content,
      { chunk: 1, sentAt: 1000 },
      honest(1),
      1000 + DEADLINE,
      DEADLINE,
    );
    expect(onTime).toEqual({ ok: true });
  });

  it("is pending while fetching, and fails when missing or malformed", async () => {
    const at = { chunk: 0, sentAt: 0 };
    expect(await judge(content, at, { status: "fetching" }, 1, DEADLINE)).toEqual({
      ok: false,
      pending: true,
    });
    expect(await judge(content, at, { status: "missing" }, 1, DEADLINE)).toMatchObject({
      reason: "missing",
    });
    for (const junk of [null, "proof", { status: "proof", chunk: "***", proof: "" }, {}]) {
      expect(await judge(content, at, junk, 1, DEADLINE)).toMatchObject({ reason: "malformed" });
    }
  });

  it("asks for chunk indexes spread over the whole stream", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const c = randomChunk(SIZE);
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThan(chunkCount(SIZE));
      seen.add(c);
    }
    expect(seen.size).toBe(chunkCount(SIZE));
  });
});

describe("provider pay", () => {
  it("pays whole base units per proven period and carries the fraction, so periods add up exactly", () => {
    const size = 3 * 1024 ** 2 + 17; // a few MiB: far below a base unit per GiB-hour
    const price = 1000;
    let carried = "0";
    let paid = 0;
    // 1,000 periods of 7 s: each earns a fraction, the total is the exact price rounded down once.
    for (let i = 0; i < 1000; i++) {
      const { amount, remainder } = periodPay(size, 7_000, price, carried);
      paid += amount;
      carried = remainder;
    }
    const exact = (BigInt(size) * 7_000_000n * BigInt(price)) / (1024n ** 3n * 3_600_000n);
    expect(paid).toBe(Number(exact));
    expect(paid).toBeGreaterThan(0);
    expect(periodPay(1024 ** 3, 3_600_000, price)).toEqual({ amount: 1000, remainder: "0" });
    expect(periodPay(size, 0, price)).toEqual({ amount: 0, remainder: "0" });
  });
});

function registry() {
  return env.PROVIDERS.get(env.PROVIDERS.idFromName("providers"));
}

/** A fresh address (a random 32-byte key) so tests do not share providers. */
function address(): string {
  return base58btc.baseEncode(crypto.getRandomValues(new Uint8Array(32)));
}

describe("placement", () => {
  it("chooses distinct providers with room, most room first, and reserves the space", async () => {
    const now = Date.now();
    const size = 1_000_000_000_000; // sizes no other test's providers reach
    const big = [address(), address(), address()];
    const small = address();
    for (const [i, a] of big.entries()) {
      await registry().register(
        { address: a, url: `http://p${i}.test`, capacity: 3 * size + i, free: 3 * size + i },
        now,
      );
    }
    await registry().register(
      { address: small, url: "http://small.test", capacity: size - 1, free: size - 1 },
      now,
    );
    const chosen = await registry().choose(3, size, [], now);
    expect(chosen.map((p) => p.address).sort()).toEqual([...big].sort());
    expect(new Set(chosen.map((p) => p.address)).size).toBe(3);
    // Most room first: the one registered with the most capacity leads.
    expect(chosen[0]?.address).toBe(big[2]);
    expect((await registry().get(big[0] ?? ""))?.reserved).toBe(size);
  });

  it("never places on a provider without room, an excluded one, or a stale one", async () => {
    const now = Date.now();
    const size = 10_000_000_000_000; // more than any provider of the test above offers
    const [a, b, c, stale] = [address(), address(), address(), address()];
    await registry().register(
      { address: a, url: "http://a.test", capacity: 2 * size, free: 2 * size },
      now,
    );
    await registry().register(
      { address: b, url: "http://b.test", capacity: size, free: size },
      now,
    );
    await registry().register(
      { address: c, url: "http://c.test", capacity: 5 * size, free: 5 * size },
      now,
    );
    await registry().register(
      { address: stale, url: "http://stale.test", capacity: 9 * size, free: 9 * size },
      now - 10 * 60_000,
    );
    // c is excluded (it already holds a replica of this pin): a and b remain.
    const first = await registry().choose(3, size, [c], now);
    expect(first.map((p) => p.address).sort()).toEqual([a, b].sort());
    // b's room is now reserved; a has room for one more; c is still excluded.
    const second = await registry().choose(3, size, [c], now);
    expect(second.map((p) => p.address)).toEqual([a]);
    expect(await registry().choose(3, size, [c], now)).toEqual([]);
    // Dropping a replica gives its space back.
    await registry().unreserve(b, size, "bafy-test");
    expect((await registry().choose(1, size, [c], now)).map((p) => p.address)).toEqual([b]);
  });

  it("counts providers with room as available", async () => {
    const now = Date.now();
    const size = 1_000_000_000_000_000;
    const before = await registry().available(size, now);
    await registry().register(
      { address: address(), url: "http://x.test", capacity: size, free: size },
      now,
    );
    expect(await registry().available(size, now)).toBe(before + 1);
  });
});

describe("POST /v1/providers", () => {
  /** A provider key, and a function that signs registrations with it. */
  async function signer() {
    const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const raw = new Uint8Array(
      (await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer,
    );
    return async (overrides: Partial<{ at: number; capacity: number }> = {}) => {
      const body = {
        address: base58btc.baseEncode(raw),
        url: "http://provider.test:4100",
        capacity: 1024 ** 3,
        free: 1024 ** 3,
        at: Date.now(),
        ...overrides,
      };
      const sig = new Uint8Array(
        await crypto.subtle.sign(
          { name: "Ed25519" },
          keys.privateKey,
          new TextEncoder().encode(registrationMessage(body)),
        ),
      );
      return { ...body, signature: toBase64(sig) };
    };
  }

  const signed = async (overrides: Partial<{ at: number; capacity: number }> = {}) =>
    (await signer())(overrides);

  it("registers a provider signed by its address's key, and shows it", async () => {
    const sign = await signer();
    const body = await sign();
    const res = await api("/v1/providers", jsonInit("POST", body));
    expect(res.status).toBe(200);
    const registered = (await res.json()) as { token: string };
    expect(registered).toMatchObject({ address: body.address, heartbeat_seconds: 30 });
    expect(registered.token).toMatch(/^[a-z2-7]{32}$/);
    // The heartbeat hands back the same token.
    const again = await api("/v1/providers", jsonInit("POST", await sign({ at: Date.now() + 1 })));
    expect(((await again.json()) as { token: string }).token).toBe(registered.token);
    const shown = await api(`/v1/providers/${body.address}`);
    expect(shown.status).toBe(200);
    expect(await shown.json()).toMatchObject({
      address: body.address,
      capacity: 1024 ** 3,
      failures: 0,
      pay: { periods: 0, owed: 0, paid: 0 },
    });
  });

  it("refuses a registration whose signed fields were changed, or that is old", async () => {
    const body = await signed();
    await expectProblem(
      await api("/v1/providers", jsonInit("POST", { ...body, capacity: body.capacity * 2 })),
      401,
      "bad_signature",
    );
    const old = await signed({ at: Date.now() - 10 * 60_000 });
    await expectProblem(
      await api("/v1/providers", jsonInit("POST", old)),
      401,
      "registration_expired",
    );
    await expectProblem(
      await api("/v1/providers", jsonInit("POST", { ...body, url: "ftp://x" })),
      400,
      "validation_failed",
    );
    await expectProblem(await api(`/v1/providers/${address()}`), 404, "provider_not_found");
  });
});

describe("a missed challenge", () => {
  it("marks the replica bad, pays nothing, slashes the provider's stake and repairs elsewhere", async () => {
    const now = Date.now();
    const size = 3_000_000_000_000_000; // only this test's providers have room for it
    const [gone, spare] = [address(), address()];
    // Nothing listens on port 9 (discard): challenges there get no answer at all.
    // The staked one has the most room, so it is placed first.
    for (const [a, room] of [
      [gone, size + 1],
      [spare, size],
    ] as const) {
      await registry().register(
        { address: a, url: "http://127.0.0.1:9", capacity: room, free: room },
        now,
      );
    }
    const contributor = env.CONTRIBUTOR.get(env.CONTRIBUTOR.idFromName(gone));
    await contributor.creditStake(gone, "stake:test-missed", 8_000_000 as Micros);
    const pin = env.PIN.get(env.PIN.idFromName("pin_missed_challenge"));
    const result = await runInDurableObject(pin, async (_instance, state) => {
      const replicas = new Replicas(state.storage.sql, env, "pin_missed_challenge");
      // Placed ten hours ago: past REPLICA_FETCH_SECONDS, so "still fetching" is no excuse.
      const placedAt = now - 10 * 3_600_000;
      await replicas.place({ cid: "bafkqaaa", blake3: "00".repeat(32), size }, 1, placedAt);
      const placed = replicas.view().map((r) => r.provider);
      // First challenge due: nobody answers, and this is not a fetch in progress.
      await replicas.tick(Date.now());
      return {
        placed,
        view: replicas.view(),
        events: replicas.events(),
        healthy: replicas.healthy(),
      };
    });
    expect(result.placed).toEqual([gone]);
    expect(result.view).toEqual([
      { provider: gone, status: "bad", last_proven_at: null },
      { provider: spare, status: "assigned", last_proven_at: null },
    ]);
    expect(result.healthy).toBe(0);
    const kinds = result.events.filter((e) => e.provider === gone).map((e) => e.kind);
    expect(kinds).toEqual(["assigned", "failed", "slashed"]);
    expect(result.events.some((e) => e.kind === "paid")).toBe(false);
    const failedAt = result.events.find((e) => e.kind === "failed");
    expect(failedAt?.detail).toMatch(/missing|fetch_timeout/);
    expect((await registry().get(gone))?.failures).toBe(1);
    // The staked provider lost STAKE_SLASH_BPS (25%) of its stake to insurance.
    const view = await contributor.view(gone);
    expect(view.stake).toMatchObject({ locked: 6_000_000, slashed: 2_000_000 });
  });
});
