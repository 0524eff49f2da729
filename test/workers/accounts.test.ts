import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app.ts";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

describe("signup and the account", () => {
  it("creates an account with a key and the 5 USDC trial credit", async () => {
    const res = await api(
      "/v1/accounts",
      jsonInit("POST", { name: "Ada", email: "ada@example.com" }),
    );
    expect(res.status).toBe(201);
    const created = (await res.json()) as {
      account_id: string;
      api_key: string;
      key: { scopes: string[] };
    };
    expect(created.account_id).toMatch(/^acct_[a-z2-7]{20}$/);
    expect(created.api_key).toMatch(/^tsk_/);
    expect(created.key.scopes.sort()).toEqual(["admin", "billing", "jobs", "storage"]);

    const me = await api("/v1/account", { headers: bearer(created.api_key) });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({
      account_id: created.account_id,
      name: "Ada",
      email: "ada@example.com",
      balance: { currency: "USDC", decimals: 6, available: 5_000_000, held: 0 },
    });
  });

  it("accepts a signup with no body at all", async () => {
    const res = await api("/v1/accounts", { method: "POST" });
    expect(res.status).toBe(201);
  });

  it("refuses open signup when it is switched off, but lets the operator's admin token in", async () => {
    const app = createApp();
    const closed = { ...env, OPEN_SIGNUP: "false", ADMIN_TOKEN: "operator-secret-0123456789" };
    const call = (headers: Record<string, string> = {}) =>
      app.fetch(
        new Request("http://tessera.test/v1/accounts", jsonInit("POST", {}, headers)),
        closed,
        createExecutionContext(),
      );
    await expectProblem(await call(), 403, "signup_closed");
    await expectProblem(await call(bearer("wrong-token-0123456789")), 403, "signup_closed");
    expect((await call(bearer("operator-secret-0123456789"))).status).toBe(201);
  });

  it("gives new accounts the configured trial credit", async () => {
    const app = createApp();
    const res = await app.fetch(
      new Request("http://tessera.test/v1/accounts", jsonInit("POST", {})),
      { ...env, TRIAL_CREDIT_MICROS: "0" },
      createExecutionContext(),
    );
    const { api_key } = (await res.json()) as { api_key: string };
    const me = await api("/v1/account", { headers: bearer(api_key) });
    expect(((await me.json()) as { balance: { available: number } }).balance.available).toBe(0);
  });

  it("rejects a missing, malformed, unknown or revoked key with 401", async () => {
    await expectProblem(await api("/v1/account"), 401, "unauthenticated");
    await expectProblem(
      await api("/v1/account", { headers: bearer("nonsense") }),
      401,
      "unauthenticated",
    );
    await expectProblem(
      await api("/v1/account", { headers: { authorization: "Basic Zm9vOmJhcg==" } }),
      401,
      "unauthenticated",
    );
    const { apiKey } = await signup();
    const forged = `${apiKey.slice(0, -4)}aaaa`;
    const res = await api("/v1/account", { headers: bearer(forged) });
    await expectProblem(res, 401, "unauthenticated");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
    // A well-formed key for an account that does not exist.
    const ghost = `tsk_${"b".repeat(20)}_${"c".repeat(52)}`;
    await expectProblem(
      await api("/v1/account", { headers: bearer(ghost) }),
      401,
      "unauthenticated",
    );
  });
});
