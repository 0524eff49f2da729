import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

// The local default: no Solana settlement and no operator token configured. Billing answers with
// a problem that says what to configure; nothing else about the API changes.

describe("billing without Solana settlement configured", () => {
  it("answers deposits with 503 billing_not_configured naming what to set", async () => {
    const { apiKey } = await signup();
    const res = await api(
      "/v1/billing/deposits",
      jsonInit("POST", { amount: 5_000_000 }, bearer(apiKey)),
    );
    const problem = await expectProblem(res, 503, "billing_not_configured");
    expect(problem.detail).toMatch(/SOLANA_RPC_URL.*USDC_MINT.*TREASURY_KEY/);
    await expectProblem(
      await api("/v1/billing/deposits/dep_aaaaaaaaaaaaaaaaaaaa", { headers: bearer(apiKey) }),
      503,
      "billing_not_configured",
    );
  });

  it("answers stake and unstake with the same problem, and still shows contributors", async () => {
    const address = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
    await expectProblem(
      await api(`/v1/contributors/${address}/stake`, jsonInit("POST", { amount: 5_000_000 })),
      503,
      "billing_not_configured",
    );
    const unstake = {
      amount: 1,
      request_id: "aaaaaaaaaaaaaaaa",
      signature: `${"A".repeat(86)}==`,
    };
    await expectProblem(
      await api(`/v1/contributors/${address}/unstake`, jsonInit("POST", unstake)),
      503,
      "billing_not_configured",
    );
    const res = await api(`/v1/contributors/${address}`);
    expect(res.status).toBe(200);
    // Earnings accumulate; the record says payouts are off and what would turn them on.
    const record = (await res.json()) as { payouts_note: string };
    expect(record).toMatchObject({
      earnings: { available: 0, pending: 0, paid: 0 },
      stake: { locked: 0, unstaking: 0, slashed: 0 },
      payouts: [],
      payouts_enabled: false,
    });
    expect(record.payouts_note).toMatch(/SOLANA_RPC_URL/);
  });

  it("keeps the ledger closed without an operator token, whatever the API key's scopes", async () => {
    const { apiKey } = await signup(); // every scope, admin included: an account's own admin
    const problem = await expectProblem(
      await api("/v1/admin/ledger", { headers: bearer(apiKey) }),
      503,
      "admin_not_configured",
    );
    expect(problem.detail).toMatch(/ADMIN_TOKEN/);
  });
});
