import { describe, expect, it } from "vitest";
import { api, balance, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";
import { newKey, render } from "./metering-helpers.ts";

async function price(apiKey: string): Promise<number> {
  const res = await api("/v1/jobs/quote", jsonInit("POST", render, bearer(apiKey)));
  return ((await res.json()) as { total: number }).total;
}

const createJob = (apiKey: string) => api("/v1/jobs", jsonInit("POST", render, bearer(apiKey)));

async function jobCount(apiKey: string) {
  const res = await api("/v1/jobs", { headers: bearer(apiKey) });
  return ((await res.json()) as { data: unknown[] }).data.length;
}

function setCap(apiKey: string, path: string, monthly_limit: number | null) {
  return api(path, jsonInit("PUT", { monthly_limit }, bearer(apiKey)));
}

describe("spend caps", () => {
  it("refuses a job past the account's cap with 402, holding and creating nothing", async () => {
    const { apiKey } = await signup();
    const total = await price(apiKey);
    const res = await setCap(apiKey, "/v1/account/spend-cap", total - 1);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      scope: "account",
      monthly_limit: total - 1,
      spent: 0,
      period: new Date().toISOString().slice(0, 7),
    });
    const refused = await expectProblem(await createJob(apiKey), 402, "spend_cap_exceeded");
    expect(refused.detail).toContain(String(total - 1));
    expect(await balance(apiKey)).toEqual({ available: 5_000_000, held: 0 });
    expect(await jobCount(apiKey)).toBe(0);

    expect((await setCap(apiKey, "/v1/account/spend-cap", total)).status).toBe(200);
    expect((await createJob(apiKey)).status).toBe(202);
  });

  it("counts open holds: a second job that would pass the cap is refused", async () => {
    const { apiKey } = await signup();
    const total = await price(apiKey);
    await setCap(apiKey, "/v1/account/spend-cap", Math.floor(total * 1.5));
    expect((await createJob(apiKey)).status).toBe(202);
    await expectProblem(await createJob(apiKey), 402, "spend_cap_exceeded");
    expect(await balance(apiKey)).toEqual({ available: 5_000_000 - total, held: total });
    const cap = await api("/v1/account/spend-cap", { headers: bearer(apiKey) });
    expect(await cap.json()).toMatchObject({ spent: total });
    // Lifting the cap (null) lets it through.
    await setCap(apiKey, "/v1/account/spend-cap", null);
    expect((await createJob(apiKey)).status).toBe(202);
  });

  it("caps one key without limiting the others", async () => {
    const { apiKey } = await signup();
    const total = await price(apiKey);
    const capped = await newKey(apiKey, ["jobs", "storage"]);
    const res = await setCap(apiKey, `/v1/keys/${capped.id}/spend-cap`, total - 1);
    expect(await res.json()).toMatchObject({ scope: capped.id, monthly_limit: total - 1 });
    await expectProblem(await createJob(capped.api_key), 402, "spend_cap_exceeded");
    expect((await createJob(apiKey)).status).toBe(202);
    const view = await api(`/v1/keys/${capped.id}/spend-cap`, { headers: bearer(apiKey) });
    expect(await view.json()).toMatchObject({ monthly_limit: total - 1, spent: 0 });
    // A cap of 0 also stops the key's uploads before anything is stored.
    await setCap(apiKey, `/v1/keys/${capped.id}/spend-cap`, 0);
    const up = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(capped.api_key, { "content-type": "application/octet-stream" }),
      body: "not stored",
    });
    await expectProblem(up, 402, "spend_cap_exceeded");
    const list = await api("/v1/uploads", { headers: bearer(apiKey) });
    expect(((await list.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it("refuses an upload whose storage for the rest of the month would pass the cap", async () => {
    const { apiKey } = await signup();
    await setCap(apiKey, "/v1/account/spend-cap", 0);
    const up = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(1024 * 1024),
    });
    await expectProblem(up, 402, "spend_cap_exceeded");
    await setCap(apiKey, "/v1/account/spend-cap", 1_000_000);
    const ok = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(1024 * 1024),
    });
    expect(ok.status).toBe(201);
  });

  it("refuses an upload session's part past the cap, staging nothing", async () => {
    const { apiKey } = await signup();
    const open = await api("/v1/uploads/sessions", jsonInit("POST", {}, bearer(apiKey)));
    const session = (await open.json()) as { id: string };
    await setCap(apiKey, "/v1/account/spend-cap", 0);
    const part = await api(`/v1/uploads/sessions/${session.id}/parts/1`, {
      method: "PUT",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(1024 * 1024),
    });
    await expectProblem(part, 402, "spend_cap_exceeded");
    const view = await api(`/v1/uploads/sessions/${session.id}`, { headers: bearer(apiKey) });
    expect(await view.json()).toMatchObject({ state: "open", parts: [], received: 0 });
  });

  it("refuses gateway reads with a key whose cap is reached; reads without a key are served", async () => {
    const { apiKey } = await signup();
    const reader = await newKey(apiKey, ["storage"]);
    const up = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: "read me",
    });
    const { cid } = (await up.json()) as { cid: string };
    await setCap(apiKey, `/v1/keys/${reader.id}/spend-cap`, 0);
    await expectProblem(
      await api(`/ipfs/${cid}`, { headers: bearer(reader.api_key) }),
      402,
      "spend_cap_exceeded",
    );
    const owner = await api(`/ipfs/${cid}`, { headers: bearer(apiKey) });
    expect(await owner.text()).toBe("read me");
    const anonymous = await api(`/ipfs/${cid}`);
    expect(await anonymous.text()).toBe("read me");
  });

  it("answers bad caps and unknown keys with problems, and keys' caps need admin", async () => {
    const { apiKey } = await signup();
    for (const bad of [-1, 1.5, "100"]) {
      const res = await api(
        "/v1/account/spend-cap",
        jsonInit("PUT", { monthly_limit: bad }, bearer(apiKey)),
      );
      await expectProblem(res, 400, "validation_failed");
    }
    await expectProblem(
      await setCap(apiKey, "/v1/keys/key_aaaaaaaaaaaaaaaaaaaa/spend-cap", 5),
      404,
      "key_not_found",
    );
    const billing = await newKey(apiKey, ["billing"]);
    await expectProblem(
      await setCap(billing.api_key, `/v1/keys/${billing.id}/spend-cap`, null),
      403,
      "insufficient_scope",
    );
    const jobsOnly = await newKey(apiKey, ["jobs"]);
    await expectProblem(
      await setCap(jobsOnly.api_key, "/v1/account/spend-cap", null),
      403,
      "insufficient_scope",
    );
  });
});
