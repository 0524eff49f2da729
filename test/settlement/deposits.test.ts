import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseTransferRequestUrl } from "../../contracts/solana-pay.ts";
import { config } from "../../workers/config.ts";
import {
  api,
  balance,
  bearer,
  chain,
  deposit,
  depositState,
  expectProblem,
  jsonInit,
  signup,
  treasury,
  wallet,
  watch,
} from "./helpers.ts";

// Deposits in: a customer pays the Solana Pay request from a wallet on a LiteSVM cluster, the
// Treasury finds the payment through the JSON-RPC front over HTTP, and the account is credited.

const TRIAL = 5_000_000;

describe("deposits", () => {
  it("returns a Solana Pay request and QR code, then credits the finalized payment exactly once", async () => {
    const { apiKey, accountId } = await signup();
    const key = crypto.randomUUID();
    const intent = await deposit(apiKey, 25_000_000, key);
    expect(intent).toMatchObject({ status: "pending", amount: 25_000_000, received: 0 });
    expect(intent.recipient).toBe(env.TEST_TREASURY);
    expect(intent.mint).toBe(env.USDC_MINT);
    expect(intent.qr_svg).toMatch(/^<svg[^>]*>.*<\/svg>$/s);
    const request = parseTransferRequestUrl(intent.request.url);
    expect(request).toEqual({
      recipient: env.TEST_TREASURY,
      amount: 25_000_000n,
      splToken: env.USDC_MINT,
      reference: [intent.request.reference],
      label: "Tessera",
      message: `Deposit to ${accountId}`,
      memo: `tessera deposit ${intent.id}`,
    });
    // A retry with the same Idempotency-Key is the same request, not a second one.
    expect((await deposit(apiKey, 25_000_000, key)).request.reference).toBe(
      intent.request.reference,
    );

    await watch();
    expect(await depositState(apiKey, intent.id)).toMatchObject({
      status: "pending",
      reason: { code: "not_found" },
    });

    // Landed but not final: seen, not credited.
    await chain("finality", { lag: 3 });
    const customer = await wallet();
    const { signature } = await chain("pay", { payer: customer, url: intent.request.url });
    await watch();
    expect(await depositState(apiKey, intent.id)).toMatchObject({
      status: "pending",
      reason: { code: "not_final" },
    });
    expect(await balance(apiKey)).toEqual({ available: TRIAL, held: 0 });

    await chain("advance", { blocks: 3 });
    await chain("finality", { lag: 0 });
    await watch();
    const credited = await depositState(apiKey, intent.id);
    expect(credited).toMatchObject({
      status: "credited",
      amount: 25_000_000,
      received: 25_000_000,
      signature,
      payer: customer,
      reason: null,
    });
    expect(await balance(apiKey)).toEqual({ available: TRIAL + 25_000_000, held: 0 });

    // Watching again (a second alarm, a retried delivery) credits nothing more.
    await watch();
    await watch();
    expect(await balance(apiKey)).toEqual({ available: TRIAL + 25_000_000, held: 0 });
  });

  it("credits what arrived when a customer pays more than asked", async () => {
    const { apiKey } = await signup();
    const intent = await deposit(apiKey, 2_000_000);
    await chain("pay", { payer: await wallet(), url: intent.request.url, amount: 3_500_000 });
    await watch();
    expect(await depositState(apiKey, intent.id)).toMatchObject({
      status: "credited",
      received: 3_500_000,
    });
    expect((await balance(apiKey)).available).toBe(TRIAL + 3_500_000);
  });

  it("refuses underpayment, the wrong mint, the wrong recipient and a replayed signature, visibly", async () => {
    const { apiKey } = await signup();
    const customer = await wallet();
    const stranger = await wallet();
    const [under, mint, recipient, first, replay] = await Promise.all(
      [10_000_000, 10_000_000, 10_000_000, 4_000_000, 4_000_000].map((a) => deposit(apiKey, a)),
    );
    if (!under || !mint || !recipient || !first || !replay) throw new Error("five intents");
    await chain("pay", { payer: customer, url: under.request.url, amount: 9_999_999 });
    await chain("pay", { payer: customer, url: mint.request.url, mint: "fake" });
    await chain("pay", { payer: customer, url: recipient.request.url, recipient: stranger });
    // One payment carrying two intents' references: it may be credited to one of them only.
    const paid = await chain("pay", {
      payer: customer,
      url: first.request.url,
      extra_reference: replay.request.reference,
    });
    await watch();

    expect(await depositState(apiKey, under.id)).toMatchObject({
      status: "rejected",
      received: 9_999_999,
      reason: { code: "underpaid" },
    });
    expect(await depositState(apiKey, mint.id)).toMatchObject({
      status: "rejected",
      received: 0,
      reason: { code: "wrong_mint" },
    });
    expect(await depositState(apiKey, recipient.id)).toMatchObject({
      status: "rejected",
      received: 0,
      reason: { code: "wrong_recipient" },
    });
    // Whichever of the two the watcher looked at first got the payment; the other is refused.
    const both = [await depositState(apiKey, first.id), await depositState(apiKey, replay.id)];
    expect(both.map((d) => d.signature)).toEqual([paid.signature, paid.signature]);
    expect(both.map((d) => d.status).sort()).toEqual(["credited", "rejected"]);
    expect(both.find((d) => d.status === "rejected")?.reason?.code).toBe("replayed");
    // Only the one valid payment reached the balance.
    expect(await balance(apiKey)).toEqual({ available: TRIAL + 4_000_000, held: 0 });
  });

  it("loses no credit when the Treasury dies between recording a payment and crediting the account", async () => {
    const { apiKey } = await signup();
    const intent = await deposit(apiKey, 7_000_000);
    await chain("pay", { payer: await wallet(), url: intent.request.url });
    // The watcher's first half only: the payment is found and recorded with its credit in the
    // outbox; then the object dies before delivering it.
    await runInDurableObject(treasury(), async (t) => {
      const solana = config(env).solana;
      if (!solana) throw new Error("settlement is configured in this suite");
      await (t as unknown as { watchIntents(s: typeof solana): Promise<void> }).watchIntents(
        solana,
      );
    });
    await expect(
      runInDurableObject(treasury(), (_, state) => state.abort("injected crash")),
    ).rejects.toThrow("injected crash");
    expect(await depositState(apiKey, intent.id)).toMatchObject({ status: "credited" });
    expect((await balance(apiKey)).available).toBe(TRIAL);

    // The next alarm delivers it, once.
    await watch();
    await watch();
    expect((await balance(apiKey)).available).toBe(TRIAL + 7_000_000);
  });

  it("expires a request nobody paid, after its stated time", async () => {
    const { apiKey } = await signup();
    const intent = await deposit(apiKey, 1_000_000);
    expect(Date.parse(intent.expires_at) - Date.now()).toBeGreaterThan(59_000);
    // Move the request's deadline into the past rather than wait DEPOSIT_TTL.
    await runInDurableObject(treasury(), (_, state) => {
      state.storage.sql.exec(
        "UPDATE intents SET expires_at = ? WHERE id = ?",
        Date.now() - 1,
        intent.id,
      );
    });
    await watch();
    expect(await depositState(apiKey, intent.id)).toMatchObject({
      status: "expired",
      reason: { code: "expired" },
    });
  });

  it("shows a deposit only to its own account, and checks the amount", async () => {
    const a = await signup();
    const b = await signup();
    const intent = await deposit(a.apiKey, 1_000_000);
    await expectProblem(
      await api(`/v1/billing/deposits/${intent.id}`, { headers: bearer(b.apiKey) }),
      404,
      "deposit_not_found",
    );
    await expectProblem(
      await api("/v1/billing/deposits", jsonInit("POST", { amount: 999 }, bearer(a.apiKey))),
      400,
      "validation_failed",
    );
    await expectProblem(
      await api("/v1/billing/deposits", jsonInit("POST", { amount: 1.5 }, bearer(a.apiKey))),
      400,
      "validation_failed",
    );
  });
});
