import {
  type Address,
  createKeyPairSignerFromPrivateKeyBytes,
  generateKeyPairSigner,
  getAddressEncoder,
  getBase58Decoder,
  getBase64Encoder,
  getTransactionDecoder,
  getTransactionSize,
  type KeyPairSigner,
} from "@solana/kit";
import { afterEach, describe, expect, it } from "vitest";
import {
  buildPayoutBatch,
  MAX_PAYOUTS_PER_BATCH,
  type PayBatchOptions,
  type Payout,
  type PayoutAttempt,
  PayoutError,
  payBatch,
  planPayoutBatches,
} from "../../contracts/payouts.ts";
import { createTreasuryRpc, type TreasuryRpc } from "../../contracts/rpc.ts";
import { TestChain } from "../../contracts/testing/chain.ts";
import { type RpcFront, startRpcFront } from "../../contracts/testing/rpc-front.ts";
import {
  createMint,
  createTokenAccount,
  fundedSigner,
  mintTo,
  tokenBalance,
} from "../../contracts/testing/tokens.ts";
import { treasurySigner } from "../../contracts/treasury-key.ts";

// Payouts out, through real transactions in LiteSVM and a JSON-RPC front over real HTTP.

const USDC = (n: number) => BigInt(Math.round(n * 1_000_000));

interface World {
  front: RpcFront;
  chain: TestChain;
  rpc: TreasuryRpc;
  usdc: Address;
  treasury: KeyPairSigner;
}

const fronts: RpcFront[] = [];
afterEach(async () => {
  for (const f of fronts.splice(0)) await f.close();
});

async function world(
  options: { finalityLag?: number; treasuryUsdc?: number } = {},
): Promise<World> {
  const chain = new TestChain(options);
  const front = await startRpcFront(chain);
  fronts.push(front);
  const authority = await fundedSigner(chain);
  const usdc = await createMint(chain, authority, 6);
  const treasury = await fundedSigner(chain);
  await mintTo(chain, authority, usdc, treasury.address, USDC(options.treasuryUsdc ?? 1000));
  return { front, chain, rpc: createTreasuryRpc(front.url), usdc, treasury };
}

async function contributors(n: number): Promise<Address[]> {
  return Promise.all(
    Array.from({ length: n }, async () => (await generateKeyPairSigner()).address),
  );
}

function payoutsTo(addresses: readonly Address[], each = USDC(1.25)): Payout[] {
  return addresses.map((address, i) => ({
    id: `pay_${String(i).padStart(4, "0")}`,
    address,
    amount: each,
  }));
}

async function balances(w: World, addresses: readonly Address[]): Promise<bigint[]> {
  return Promise.all(addresses.map((a) => tokenBalance(w.chain, a, w.usdc)));
}

/** A Treasury's record of one batch: the attempts `sent` stored, as its SQLite row would. */
function record() {
  const attempts: PayoutAttempt[] = [];
  return {
    attempts,
    options(extra: Partial<PayBatchOptions> = {}): PayBatchOptions {
      return { attempts: [...attempts], sent: (a) => void attempts.push(a), ...extra };
    },
  };
}

/**
 * An RPC whose process "dies" right after `sendTransaction` reached the cluster: every call after
 * it throws, so nothing past the send (confirmation, bookkeeping) happens.
 */
function crashingAfterSend(rpc: TreasuryRpc): TreasuryRpc {
  let sent = false;
  return new Proxy(rpc, {
    get(target, prop, receiver) {
      const method = Reflect.get(target, prop, receiver);
      if (typeof method !== "function") return method;
      return (...args: unknown[]) => {
        if (sent) throw new Error("crash after sendTransaction");
        if (prop === "sendTransaction") sent = true;
        return method.apply(target, args);
      };
    },
  });
}

describe("payout batches", () => {
  it("pays each recipient in one transaction with the ids in the memo, creating missing accounts", async () => {
    const w = await world();
    const recipients = await contributors(3);
    // One recipient already has a USDC account; the others get one created idempotently.
    await createTokenAccount(w.chain, w.treasury, recipients[0] as Address, w.usdc);
    const payouts = payoutsTo(recipients).map((p, i) => ({ ...p, amount: USDC(i + 1) }));
    const r = record();
    const result = await payBatch(
      w.rpc,
      { treasury: w.treasury, mint: w.usdc, payouts },
      r.options(),
    );

    expect(result).toEqual({
      signature: r.attempts[0]?.signature,
      slot: expect.any(BigInt),
      alreadyPaid: false,
    });
    expect(await balances(w, recipients)).toEqual([USDC(1), USDC(2), USDC(3)]);
    expect(await tokenBalance(w.chain, w.treasury.address, w.usdc)).toBe(USDC(1000 - 6));
    const landed = w.chain.transaction(result.signature);
    expect(landed?.err).toBeNull();
    const memo = "tessera payout pay_0000,pay_0001,pay_0002";
    expect(landed?.memo).toBe(`[${memo.length}] ${memo}`);
  });

  it("plans batches of up to 8 that fit 1232 bytes, fewer when the ids are long, and pays them all", async () => {
    const w = await world();
    const recipients = await contributors(19);
    const short = await planPayoutBatches({
      treasury: w.treasury,
      mint: w.usdc,
      payouts: payoutsTo(recipients, USDC(2)),
    });
    expect(short.map((b) => b.length)).toEqual([8, 8, 3]);

    const long = recipients.map((address, i) => ({
      id: `payout_${String(i).padStart(33, "x")}`,
      address,
      amount: USDC(0.5),
    }));
    expect(long[0]?.id).toHaveLength(40);
    const batches = await planPayoutBatches({ treasury: w.treasury, mint: w.usdc, payouts: long });
    expect(batches.flat()).toEqual(long);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThan(MAX_PAYOUTS_PER_BATCH);
    for (const payouts of batches) {
      const batch = await buildPayoutBatch({
        treasury: w.treasury,
        mint: w.usdc,
        payouts,
        blockhash: w.chain.latestBlockhash(),
      });
      const wire = getTransactionDecoder().decode(getBase64Encoder().encode(batch.transaction));
      expect(getTransactionSize(wire)).toBeLessThanOrEqual(1232);
      // One more payout would not have fitted: the plan packs batches full.
      const next = long[long.indexOf(payouts[payouts.length - 1] as (typeof long)[number]) + 1];
      if (next) {
        await expect(
          buildPayoutBatch({
            treasury: w.treasury,
            mint: w.usdc,
            payouts: [...payouts, next],
            blockhash: w.chain.latestBlockhash(),
          }),
        ).rejects.toMatchObject({ code: "too_large" });
      }
      await payBatch(w.rpc, { treasury: w.treasury, mint: w.usdc, payouts }, record().options());
    }
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(0.5)));
    expect(await tokenBalance(w.chain, w.treasury.address, w.usdc)).toBe(USDC(1000 - 9.5));
  });

  it("refuses batches it cannot put in one memo-tagged transaction", async () => {
    const w = await world();
    const [a, b] = await contributors(2);
    const request = (payouts: Payout[]) => ({ treasury: w.treasury, mint: w.usdc, payouts });
    const bad: Payout[][] = [
      [],
      payoutsTo(await contributors(MAX_PAYOUTS_PER_BATCH + 1)),
      [
        { id: "x", address: a as Address, amount: 1 },
        { id: "x", address: b as Address, amount: 1 },
      ],
      [{ id: "a,b", address: a as Address, amount: 1 }],
      [{ id: "zero", address: a as Address, amount: 0 }],
      [{ id: "frac", address: a as Address, amount: 1.5 }],
    ];
    for (const payouts of bad) {
      await expect(payBatch(w.rpc, request(payouts), record().options())).rejects.toThrow();
    }
    expect(w.front.calls).not.toContain("sendTransaction");
  });

  it("waits for finalization before reporting a batch paid", async () => {
    const w = await world({ finalityLag: 32 });
    const recipients = await contributors(2);
    let polls = 0;
    const result = await payBatch(
      w.rpc,
      { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) },
      record().options({
        sleep: async () => {
          polls += 1;
          w.chain.advance(8);
        },
      }),
    );
    expect(polls).toBe(4);
    expect(w.chain.commitmentOf(w.chain.transaction(result.signature) ?? expect.fail())).toBe(
      "finalized",
    );
  });

  it("reports a batch the node refuses in preflight as rejected, paying nothing", async () => {
    const w = await world({ treasuryUsdc: 1 });
    const recipients = await contributors(2);
    const error = await payBatch(
      w.rpc,
      { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) },
      record().options(),
    ).catch((e) => e);
    expect(error).toBeInstanceOf(PayoutError);
    expect(error.code).toBe("rejected");
    expect(await balances(w, recipients)).toEqual([0n, 0n]);
  });
});

describe("the treasury key", () => {
  it("loads from solana-keygen's JSON array or base58, and refuses a mismatched keypair", async () => {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const expected = await createKeyPairSignerFromPrivateKeyBytes(seed);
    const keypair = new Uint8Array([...seed, ...getAddressEncoder().encode(expected.address)]);
    expect((await treasurySigner(JSON.stringify([...keypair]))).address).toBe(expected.address);
    expect((await treasurySigner(`${getBase58Decoder().decode(keypair)}\n`)).address).toBe(
      expected.address,
    );
    const wrongPublicHalf = new Uint8Array(keypair);
    wrongPublicHalf[40] = (wrongPublicHalf[40] ?? 0) ^ 1;
    await expect(treasurySigner(JSON.stringify([...wrongPublicHalf]))).rejects.toThrow();
    await expect(treasurySigner(JSON.stringify([...seed]))).rejects.toThrow("64 bytes");
  });
});

describe("a crash between send and confirm never pays twice", () => {
  it("finds the landed attempt by its recorded signature and sends nothing", async () => {
    const w = await world();
    const recipients = await contributors(3);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const r = record();

    await expect(payBatch(crashingAfterSend(w.rpc), request, r.options())).rejects.toThrow(
      "crash after sendTransaction",
    );
    expect(r.attempts).toHaveLength(1);
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));

    // The retry comes late: the attempt's blockhash has expired, so re-sending its bytes is no
    // longer possible and only the check on chain stands between the retry and a second payment.
    w.chain.advance(200);
    const sendsBefore = w.front.calls.filter((c) => c === "sendTransaction").length;
    const retry = await payBatch(w.rpc, request, r.options());
    expect(retry).toMatchObject({ signature: r.attempts[0]?.signature, alreadyPaid: true });
    expect(w.front.calls.filter((c) => c === "sendTransaction").length).toBe(sendsBefore);
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });

  it("survives the confirmation being lost on the wire", async () => {
    const w = await world();
    const recipients = await contributors(2);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const r = record();
    w.front.failNext("getSignatureStatuses");
    await expect(payBatch(w.rpc, request, r.options())).rejects.toThrow();
    w.chain.advance(200);
    const retry = await payBatch(w.rpc, request, r.options());
    expect(retry.alreadyPaid).toBe(true);
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });

  it("finds the payment by its memo when the attempt's record was lost", async () => {
    const w = await world();
    const recipients = await contributors(2);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const first = await payBatch(w.rpc, request, record().options());
    w.chain.advance(200);
    // A retry that knows no attempts (say, a restored backup) still finds the payment on chain.
    const retry = await payBatch(w.rpc, request, record().options());
    expect(retry).toMatchObject({ signature: first.signature, alreadyPaid: true });
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });

  it("re-sends the same signed bytes when the crash came before the send", async () => {
    const w = await world();
    const recipients = await contributors(2);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const attempts: PayoutAttempt[] = [];
    await expect(
      payBatch(w.rpc, request, {
        attempts: [],
        sent: (a) => {
          attempts.push(a);
          throw new Error("crash after recording");
        },
      }),
    ).rejects.toThrow("crash after recording");
    expect(w.front.calls).not.toContain("sendTransaction");
    expect(await balances(w, recipients)).toEqual([0n, 0n]);

    const retry = await payBatch(w.rpc, request, {
      attempts,
      sent: () => expect.fail("a live recorded attempt must be re-sent, not replaced"),
    });
    expect(retry).toEqual({
      signature: attempts[0]?.signature,
      slot: expect.any(BigInt),
      alreadyPaid: false,
    });
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });

  it("waits out an attempt the node already calls expired while finality says it may land", async () => {
    const w = await world({ finalityLag: 32 });
    const recipients = await contributors(2);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const r = record();
    await expect(
      payBatch(w.rpc, request, {
        attempts: [],
        sent: (a) => {
          r.attempts.push(a);
          throw new Error("crash after recording");
        },
      }),
    ).rejects.toThrow("crash after recording");
    // Past the attempt's last valid height for the node, not yet for the finalized chain.
    const lastValid = r.attempts[0]?.lastValidBlockHeight ?? expect.fail();
    w.chain.advance(Number(lastValid - w.chain.blockHeight()) + 10);
    expect(w.chain.blockHeight("finalized")).toBeLessThanOrEqual(lastValid);

    const result = await payBatch(
      w.rpc,
      request,
      r.options({ sleep: async () => w.chain.advance(16) }),
    );
    expect(r.attempts).toHaveLength(2);
    expect(result).toMatchObject({ signature: r.attempts[1]?.signature, alreadyPaid: false });
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });

  it("signs a new attempt only after a dropped one has expired, and pays once", async () => {
    const w = await world();
    const recipients = await contributors(2);
    const request = { treasury: w.treasury, mint: w.usdc, payouts: payoutsTo(recipients) };
    const r = record();
    w.chain.dropIncoming = 1; // the leader loses the first attempt
    const result = await payBatch(
      w.rpc,
      request,
      r.options({ sleep: async () => w.chain.advance(40) }),
    );
    expect(r.attempts).toHaveLength(2);
    expect(w.chain.transaction(r.attempts[0]?.signature ?? expect.fail())).toBeUndefined();
    expect(result).toMatchObject({ signature: r.attempts[1]?.signature, alreadyPaid: false });
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));

    // And a retry after all that still pays nothing more.
    expect(await payBatch(w.rpc, request, r.options())).toMatchObject({ alreadyPaid: true });
    expect(await balances(w, recipients)).toEqual(recipients.map(() => USDC(1.25)));
  });
});
