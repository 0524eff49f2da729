import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { unstakeMessage } from "../../protocol/billing.ts";
import {
  api,
  chain,
  contributorRecord,
  contributorStub,
  expectProblem,
  fundedAccount,
  jsonInit,
  ledger,
  settleWork,
  treasury,
  usdcOf,
  wallet,
  watch,
} from "./helpers.ts";

// Payouts out and stake, on a LiteSVM cluster through the RPC front. The suite's payout
// threshold is 1 USDC, the stake tier 10 USDC, the slash 25 %, the unstake cooldown 2 s.

const WALLET_START = 1_000_000_000; // what each fixture wallet starts with

describe("payouts", () => {
  it("pays earnings above the threshold in batches, with the right balances and signatures", async () => {
    const { accountId } = await fundedAccount(100_000_000);
    const contributors = await Promise.all(Array.from({ length: 10 }, () => wallet()));
    const treasuryBefore = await usdcOf(env.TEST_TREASURY);

    // Below the threshold: earned, available, not paid.
    await settleWork(accountId, contributors[0] as string, { earned: 400_000, fee: 40_000 });
    expect((await contributorRecord(contributors[0] as string)).earnings).toEqual({
      available: 400_000,
      pending: 0,
      paid: 0,
    });
    // Past it: each contributor's whole available balance goes into one payout.
    for (const [i, address] of contributors.entries()) {
      await settleWork(accountId, address, { earned: 1_000_000 + i, fee: 100_000 });
    }
    const queued = await contributorRecord(contributors[0] as string);
    expect(queued.earnings).toEqual({ available: 0, pending: 1_400_000, paid: 0 });
    expect(queued.payouts).toMatchObject([
      { kind: "earnings", amount: 1_400_000, status: "pending", signature: null },
    ]);

    await watch();
    const expected = contributors.map((_, i) => (i === 0 ? 1_400_000 : 1_000_000 + i));
    for (const [i, address] of contributors.entries()) {
      const record = await contributorRecord(address);
      expect(record.earnings).toEqual({ available: 0, pending: 0, paid: expected[i] });
      expect(record.payouts).toMatchObject([{ status: "paid", amount: expected[i] }]);
      expect(await usdcOf(address)).toBe(WALLET_START + (expected[i] as number));
    }
    const total = expected.reduce((a, b) => a + b, 0);
    expect(await usdcOf(env.TEST_TREASURY)).toBe(treasuryBefore - total);
    // Ten payouts fit in two transactions (at most 8 a batch).
    const signatures = new Set<string | null>();
    for (const address of contributors) {
      signatures.add((await contributorRecord(address)).payouts[0]?.signature ?? null);
    }
    expect(signatures.size).toBe(2);
    expect(signatures.has(null)).toBe(false);
  });

  it("pays to the payout address the contributor named in its handshake", async () => {
    const { accountId } = await fundedAccount(10_000_000);
    const key = await wallet(); // the contributor's signing key
    const payTo = await wallet(); // e.g. the visitor's wallet behind a browser tab's key
    // What the Dispatcher does after an `auth` frame with `payout` verified.
    await contributorStub(key).hello(key, payTo);
    await settleWork(accountId, key, { earned: 1_500_000, fee: 150_000 });
    await watch();
    expect(await usdcOf(payTo)).toBe(WALLET_START + 1_500_000);
    expect(await usdcOf(key)).toBe(WALLET_START);
    expect((await contributorRecord(key)).payouts).toMatchObject([
      { address: payTo, amount: 1_500_000, status: "paid" },
    ]);
  });

  it("never pays twice when the Treasury dies between sending a batch and confirming it", async () => {
    const { accountId } = await fundedAccount(10_000_000);
    const address = await wallet();
    await settleWork(accountId, address, { earned: 2_000_000, fee: 200_000 });

    // The RPC connection (and so the alarm) dies right after sendTransaction reached the cluster.
    await chain("crash_after", { method: "sendTransaction" });
    await watch();
    await chain("heal");
    expect(await usdcOf(address)).toBe(WALLET_START + 2_000_000); // it did land
    const stuck = await contributorRecord(address);
    expect(stuck.earnings).toEqual({ available: 0, pending: 2_000_000, paid: 0 });
    await runInDurableObject(treasury(), (_, state) => {
      const attempts = state.storage.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM attempts a JOIN payouts p ON p.batch_id = a.batch_id WHERE p.contributor = ?",
          address,
        )
        .one().n;
      expect(attempts).toBe(1); // the attempt was stored before it was sent
    });
    // The object restarts, forgetting everything it held in memory.
    await expect(
      runInDurableObject(treasury(), (_, state) => state.abort("injected crash")),
    ).rejects.toThrow("injected crash");

    // The next alarm finds the landed attempt on chain and sends nothing.
    await watch();
    await watch();
    expect(await usdcOf(address)).toBe(WALLET_START + 2_000_000);
    const paid = await contributorRecord(address);
    expect(paid.earnings).toEqual({ available: 0, pending: 0, paid: 2_000_000 });
    expect(paid.payouts).toHaveLength(1);
    expect(paid.payouts[0]?.signature).toEqual(expect.any(String));
    // One payout transaction ever touched the contributor (plus its wallet's funding by the fixture).
    const { count } = await chain<{ count: number }>("transactions", { address });
    expect(count).toBe(3); // SOL airdrop is not a transaction; two mints (USDC, fake) and one payout
  });
});

describe("stake", () => {
  it("stakes by Solana Pay for a higher tier, slashes a cheater to insurance, and pays unstake back after the cooldown", async () => {
    const { accountId } = await fundedAccount(10_000_000);
    const address = await wallet();
    expect((await contributorRecord(address)).trust).toBe("new");

    const res = await api(
      `/v1/contributors/${address}/stake`,
      jsonInit("POST", { amount: 20_000_000 }),
    );
    expect(res.status, await res.clone().text()).toBe(201);
    const intent = (await res.json()) as { id: string; request: { url: string; memo: string } };
    expect(intent.request.memo).toBe(`tessera stake ${intent.id}`);
    await chain("pay", { payer: address, url: intent.request.url });
    await watch();
    const state = await api(`/v1/contributors/${address}/stake/${intent.id}`);
    expect(await state.json()).toMatchObject({ status: "credited", received: 20_000_000 });
    const staked = await contributorRecord(address);
    expect(staked.stake).toMatchObject({ locked: 20_000_000, unstaking: 0, slashed: 0 });
    expect(staked.trust).toBe("established"); // stake ≥ 10 USDC: one tier up

    const before = await ledger();
    // Caught cheating in a job: 25 % of the stake goes to insurance.
    await settleWork(accountId, address, { earned: 0, fee: 0, accepted: 1, rejected: 1 });
    const slashed = await contributorRecord(address);
    expect(slashed.stake).toMatchObject({ locked: 15_000_000, slashed: 5_000_000 });
    const after = await ledger();
    expect(after.holdings.insurance - before.holdings.insurance).toBe(5_000_000);
    expect(after.holdings.stake_locked - before.holdings.stake_locked).toBe(-5_000_000);

    // Unstaking needs the contributor's own signature.
    const requestId = crypto.randomUUID();
    const message = unstakeMessage(address, 15_000_000, requestId);
    const forged = { amount: 15_000_000, request_id: requestId, signature: `${"A".repeat(86)}==` };
    await expectProblem(
      await api(`/v1/contributors/${address}/unstake`, jsonInit("POST", forged)),
      401,
      "bad_signature",
    );
    const { signature } = await chain("sign", {
      address,
      message: btoa(String.fromCharCode(...message)),
    });
    const tooMuch = unstakeMessage(address, 15_000_001, requestId);
    const tooMuchSig = (
      await chain("sign", { address, message: btoa(String.fromCharCode(...tooMuch)) })
    ).signature;
    await expectProblem(
      await api(
        `/v1/contributors/${address}/unstake`,
        jsonInit("POST", { amount: 15_000_001, request_id: requestId, signature: tooMuchSig }),
      ),
      409,
      "insufficient_stake",
    );
    const body = { amount: 15_000_000, request_id: requestId, signature };
    for (let i = 0; i < 2; i++) {
      const unstake = await api(`/v1/contributors/${address}/unstake`, jsonInit("POST", body));
      expect(unstake.status, await unstake.clone().text()).toBe(200);
    }
    const cooling = await contributorRecord(address);
    expect(cooling.stake).toMatchObject({ locked: 0, unstaking: 15_000_000 });
    expect(cooling.trust).toBe("new");

    // Still cooling: the contributor's alarm queues nothing yet.
    await runDurableObjectAlarm(contributorStub(address));
    expect((await contributorRecord(address)).payouts).toEqual([]);
    const unlocks = Date.parse(cooling.stake.unlocks_at ?? "");
    while (Date.now() <= unlocks) await new Promise((r) => setTimeout(r, 100));
    await runInDurableObject(contributorStub(address), (c) => c.alarm());
    await watch();
    const back = await contributorRecord(address);
    expect(back.stake).toMatchObject({ locked: 0, unstaking: 0, paid_back: 15_000_000 });
    expect(back.payouts).toMatchObject([{ kind: "unstake", amount: 15_000_000, status: "paid" }]);
    expect(await usdcOf(address)).toBe(WALLET_START - 20_000_000 + 15_000_000);
  });
});
