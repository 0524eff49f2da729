import {
  AccountRole,
  type Address,
  appendTransactionMessageInstructions,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  type Instruction,
  type KeyPairSigner,
  pipe,
  type Signature,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from "@solana/kit";
import { getAddMemoInstruction } from "@solana-program/memo";
import { getTransferCheckedInstruction } from "@solana-program/token";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkDeposit,
  type DepositCheck,
  type DepositIntent,
  depositRequest,
} from "../../contracts/deposits.ts";
import { createTreasuryRpc, type TreasuryRpc } from "../../contracts/rpc.ts";
import {
  formatTokenAmount,
  newReference,
  parseTransferRequestUrl,
  type TransferRequest,
  TransferRequestError,
  transferRequestUrl,
} from "../../contracts/solana-pay.ts";
import {
  associatedTokenAccount,
  SPL_MEMO_PROGRAM_ADDRESS,
  treasuryBalance,
} from "../../contracts/spl.ts";
import { checkStake, slashAmount, stakeRequest } from "../../contracts/stake.ts";
import { TestChain } from "../../contracts/testing/chain.ts";
import { type RpcFront, startRpcFront } from "../../contracts/testing/rpc-front.ts";
import {
  createMint,
  createTokenAccount,
  fundedSigner,
  mintTo,
  tokenBalance,
} from "../../contracts/testing/tokens.ts";

// Deposits in, through real transactions in LiteSVM and a JSON-RPC front over real HTTP.

const USDC = (n: number) => BigInt(Math.round(n * 1_000_000));

interface World {
  front: RpcFront;
  chain: TestChain;
  rpc: TreasuryRpc;
  usdc: Address;
  fake: Address;
  treasury: KeyPairSigner;
  customer: KeyPairSigner;
  stranger: KeyPairSigner;
  /** Signatures credited so far, to which intent: the Treasury's `seen` check. */
  credited: Map<Signature, string>;
}

const fronts: RpcFront[] = [];
afterEach(async () => {
  for (const f of fronts.splice(0)) await f.close();
});

async function world(options: { finalityLag?: number } = {}): Promise<World> {
  const chain = new TestChain(options);
  const front = await startRpcFront(chain);
  fronts.push(front);
  const authority = await fundedSigner(chain);
  const usdc = await createMint(chain, authority, 6);
  const fake = await createMint(chain, authority, 6);
  const treasury = await fundedSigner(chain);
  const customer = await fundedSigner(chain);
  const stranger = await fundedSigner(chain);
  await createTokenAccount(chain, treasury, treasury.address, usdc);
  await createTokenAccount(chain, treasury, treasury.address, fake);
  await createTokenAccount(chain, stranger, stranger.address, usdc);
  await mintTo(chain, authority, usdc, customer.address, USDC(100));
  await mintTo(chain, authority, fake, customer.address, USDC(100));
  const rpc = createTreasuryRpc(front.url);
  return { front, chain, rpc, usdc, fake, treasury, customer, stranger, credited: new Map() };
}

/**
 * What a wallet does with a transfer request: memo, then `transferChecked` to the recipient's
 * associated token account with the references appended read-only and unsigned, sent through the
 * RPC. `tamper` lets a test pay something other than what was asked.
 */
async function pay(
  w: World,
  request: TransferRequest,
  tamper: {
    amount?: bigint;
    mint?: Address;
    recipient?: Address;
    extraReference?: Address;
    skipPreflight?: boolean;
  } = {},
): Promise<Signature> {
  const mint = tamper.mint ?? request.splToken;
  const amount = tamper.amount ?? request.amount;
  if (!mint || amount === undefined) throw new Error("test request lacks spl-token or amount");
  const transfer = getTransferCheckedInstruction({
    source: await associatedTokenAccount(w.customer.address, mint),
    mint,
    destination: await associatedTokenAccount(tamper.recipient ?? request.recipient, mint),
    authority: w.customer,
    amount,
    decimals: 6,
  });
  const references = [
    ...request.reference,
    ...(tamper.extraReference ? [tamper.extraReference] : []),
  ];
  const transferWithReferences: Instruction = {
    ...transfer,
    accounts: [
      ...transfer.accounts,
      ...references.map((address) => ({ address, role: AccountRole.READONLY })),
    ],
  };
  const instructions: Instruction[] = [];
  if (request.memo !== undefined) {
    instructions.push(
      getAddMemoInstruction({ memo: request.memo }, { programAddress: SPL_MEMO_PROGRAM_ADDRESS }),
    );
  }
  instructions.push(transferWithReferences);
  const { value: blockhash } = await w.rpc.getLatestBlockhash().send();
  const tx = await pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(w.customer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
    (m) => signTransactionMessageWithSigners(m),
  );
  return w.rpc
    .sendTransaction(getBase64EncodedWireTransaction(tx), {
      encoding: "base64",
      skipPreflight: tamper.skipPreflight ?? false,
    })
    .send();
}

/** A deposit intent as the Treasury would hold it, and the URL it hands the customer. */
function intentFor(w: World, id: string, amount: bigint) {
  const req = depositRequest({ intentId: id, treasury: w.treasury.address, mint: w.usdc, amount });
  const intent: DepositIntent = {
    reference: req.reference,
    amount,
    treasury: w.treasury.address,
    mint: w.usdc,
  };
  return { id, intent, url: req.url, memo: req.memo };
}

/** The Treasury's watcher for one intent: check, and on success record the credit once. */
async function watch(w: World, id: string, intent: DepositIntent, underpayment?: "reject") {
  const check: DepositCheck = await checkDeposit(w.rpc, intent, {
    seen: (sig) => w.credited.has(sig) && w.credited.get(sig) !== id,
    ...(underpayment ? { underpayment } : {}),
  });
  if (check.ok) w.credited.set(check.signature, id);
  return check;
}

describe("Solana Pay transfer requests", () => {
  const recipient = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU" as Address;
  const mint = "EPjFWdd5AufqSSqeM2qJwqVmEVvf1pDHtrWUhGt2JSHK" as Address; // mainnet USDC
  const reference = "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny" as Address;

  it("writes the amount in decimal USDC and percent-encodes the text fields", () => {
    const url = transferRequestUrl({
      recipient,
      amount: 1_500_001,
      splToken: mint,
      reference,
      label: "Tessera & Co",
      message: "Deposit für 1.5 USDC",
      memo: "tessera deposit dep_1",
    });
    expect(url).toBe(
      `solana:${recipient}?amount=1.500001&spl-token=${mint}&reference=${reference}` +
        "&label=Tessera%20%26%20Co&message=Deposit%20f%C3%BCr%201.5%20USDC&memo=tessera%20deposit%20dep_1",
    );
    expect(parseTransferRequestUrl(url)).toEqual({
      recipient,
      amount: 1_500_001n,
      splToken: mint,
      reference: [reference],
      label: "Tessera & Co",
      message: "Deposit für 1.5 USDC",
      memo: "tessera deposit dep_1",
    });
  });

  it("formats whole and sub-unit amounts the way the spec requires", () => {
    expect(formatTokenAmount(5_000_000n, 6)).toBe("5");
    expect(formatTokenAmount(1n, 6)).toBe("0.000001");
    expect(formatTokenAmount(0n, 6)).toBe("0");
    expect(transferRequestUrl({ recipient, amount: 250_000n, splToken: mint })).toBe(
      `solana:${recipient}?amount=0.25&spl-token=${mint}`,
    );
  });

  it("refuses malformed requests as a wallet must", () => {
    const bad = [
      `solana:${recipient}?amount=.5&spl-token=${mint}`,
      `solana:${recipient}?amount=1e3&spl-token=${mint}`,
      `solana:${recipient}?amount=0.0000001&spl-token=${mint}`,
      `solana:${recipient}?amount=1&amount=2&spl-token=${mint}`,
      `solana:${recipient}?spl-token=${mint}&reference=notakey`,
      `solana:notanaddress?amount=1`,
      `https://example.com/?recipient=${recipient}`,
    ];
    for (const url of bad)
      expect(() => parseTransferRequestUrl(url), url).toThrow(TransferRequestError);
  });

  it("gives every request a fresh 32-byte reference", () => {
    const refs = new Set(Array.from({ length: 50 }, () => newReference()));
    expect(refs.size).toBe(50);
  });
});

describe("deposits through the RPC front", () => {
  it("finds and credits a Solana Pay payment built from the URL", async () => {
    const w = await world();
    const { id, intent, url, memo } = intentFor(w, "dep_happy", USDC(5));
    expect(url).toContain("amount=5&");
    expect(await watch(w, id, intent)).toMatchObject({ ok: false, code: "not_found" });

    const signature = await pay(w, parseTransferRequestUrl(url));
    const check = await watch(w, id, intent);
    expect(check).toEqual({
      ok: true,
      signature,
      slot: expect.any(BigInt),
      blockTime: expect.any(BigInt),
      received: USDC(5),
      requested: USDC(5),
      shortfall: 0n,
      excess: 0n,
      payer: w.customer.address,
      memos: [memo],
    });
    expect(await tokenBalance(w.chain, w.treasury.address, w.usdc)).toBe(USDC(5));
    expect(await treasuryBalance(w.rpc, w.treasury.address, w.usdc)).toBe(USDC(5));
    // The watcher went through the front's JSON-RPC, not around it.
    expect(w.front.calls).toEqual(
      expect.arrayContaining(["getSignaturesForAddress", "getTransaction", "sendTransaction"]),
    );
  });

  it("waits for finality: a confirmed payment is not_final until finalized", async () => {
    const w = await world({ finalityLag: 32 });
    const { id, intent, url } = intentFor(w, "dep_final", USDC(2));
    await pay(w, parseTransferRequestUrl(url));
    expect(await watch(w, id, intent)).toMatchObject({ ok: false, code: "not_final" });
    w.chain.advance(32);
    expect(await watch(w, id, intent)).toMatchObject({ ok: true, received: USDC(2) });
  });

  it("credits an underpayment as received and reports the shortfall, or rejects it on request", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_under", USDC(5));
    await pay(w, parseTransferRequestUrl(url), { amount: USDC(3.25) });
    expect(await watch(w, "other-policy", intent, "reject")).toMatchObject({
      ok: false,
      code: "underpaid",
      received: USDC(3.25),
    });
    expect(await watch(w, id, intent)).toMatchObject({
      ok: true,
      received: USDC(3.25),
      requested: USDC(5),
      shortfall: USDC(1.75),
    });
  });

  it("credits an overpayment in full", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_over", USDC(5));
    await pay(w, parseTransferRequestUrl(url), { amount: USDC(7) });
    expect(await watch(w, id, intent)).toMatchObject({
      ok: true,
      received: USDC(7),
      excess: USDC(2),
    });
  });

  it("refuses a transfer that moved nothing into the treasury", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_zero", USDC(5));
    await pay(w, parseTransferRequestUrl(url), { amount: 0n });
    expect(await watch(w, id, intent)).toMatchObject({
      ok: false,
      code: "underpaid",
      received: 0n,
    });
  });

  it("rejects payment in another token with wrong_mint", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_mint", USDC(5));
    await pay(w, parseTransferRequestUrl(url), { mint: w.fake });
    expect(await tokenBalance(w.chain, w.treasury.address, w.fake)).toBe(USDC(5));
    expect(await watch(w, id, intent)).toMatchObject({ ok: false, code: "wrong_mint" });
  });

  it("rejects payment to someone else's account with wrong_recipient", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_recipient", USDC(5));
    await pay(w, parseTransferRequestUrl(url), { recipient: w.stranger.address });
    expect(await tokenBalance(w.chain, w.stranger.address, w.usdc)).toBe(USDC(5));
    expect(await watch(w, id, intent)).toMatchObject({ ok: false, code: "wrong_recipient" });
  });

  it("credits one payment once: the same signature under a second intent is replayed", async () => {
    const w = await world();
    const a = intentFor(w, "dep_a", USDC(5));
    const b = intentFor(w, "dep_b", USDC(5));
    // One transfer carrying both intents' references shows up under both.
    const signature = await pay(w, parseTransferRequestUrl(a.url), {
      extraReference: b.intent.reference,
    });
    expect(await watch(w, a.id, a.intent)).toMatchObject({ ok: true, signature });
    expect(await watch(w, b.id, b.intent)).toMatchObject({
      ok: false,
      code: "replayed",
      signature,
    });
    // Asking again for the intent that was credited finds the same payment, not a new one.
    expect(await watch(w, a.id, a.intent)).toMatchObject({ ok: true, signature });
    expect([...w.credited]).toEqual([[signature, "dep_a"]]);
  });

  it("skips a failed attempt and credits the retry that paid", async () => {
    const w = await world();
    const { id, intent, url } = intentFor(w, "dep_retry", USDC(5));
    const request = parseTransferRequestUrl(url);
    // More than the customer holds, sent without preflight: it lands, fails and moves nothing.
    const failed = await pay(w, request, { amount: USDC(1000), skipPreflight: true });
    expect(w.chain.transaction(failed)?.err).toEqual({ InstructionError: [1, { Custom: 1 }] });
    expect(await watch(w, id, intent)).toMatchObject({
      ok: false,
      code: "not_found",
      detail: expect.stringContaining("only failed"),
    });
    // The same request paid properly is credited.
    const paid = await pay(w, request);
    expect(await watch(w, id, intent)).toMatchObject({
      ok: true,
      signature: paid,
      received: USDC(5),
    });
  });
});

describe("stake", () => {
  it("is deposited and validated like a deposit, under its own memo", async () => {
    const w = await world();
    const contributor = w.customer.address;
    const req = stakeRequest({
      intentId: "stk_1",
      contributor,
      treasury: w.treasury.address,
      mint: w.usdc,
      amount: USDC(20),
    });
    expect(req.memo).toBe("tessera stake stk_1");
    const intent = {
      reference: req.reference,
      amount: USDC(20),
      treasury: w.treasury.address,
      mint: w.usdc,
    };
    await pay(w, parseTransferRequestUrl(req.url));
    expect(await checkStake(w.rpc, intent, { seen: () => false })).toMatchObject({
      ok: true,
      received: USDC(20),
      memos: ["tessera stake stk_1"],
    });
  });

  it("slashes a stated share, rounded down to the base unit", () => {
    expect(slashAmount(USDC(20), 2500)).toBe(USDC(5));
    expect(slashAmount(3n, 5000)).toBe(1n);
    expect(() => slashAmount(1n, 10_001)).toThrow(RangeError);
  });
});
