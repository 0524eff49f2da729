import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { idempotencyRecordId, requestFingerprint } from "../../workers/http/idempotency.ts";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

const uuid = () => crypto.randomUUID();

describe("Idempotency-Key", () => {
  it("replays the first response for a retried signup instead of making a second account", async () => {
    const key = uuid();
    const first = await api(
      "/v1/accounts",
      jsonInit("POST", { name: "Bo" }, { "idempotency-key": key }),
    );
    const retry = await api(
      "/v1/accounts",
      jsonInit("POST", { name: "Bo" }, { "idempotency-key": key }),
    );
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(await first.json());
  });

  it("keeps replayable responses sealed: stored rows hold neither the key nor the API key", async () => {
    const key = crypto.randomUUID();
    const res = await api("/v1/accounts", jsonInit("POST", {}, { "idempotency-key": key }));
    const { account_id, api_key } = (await res.json()) as { account_id: string; api_key: string };
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(account_id));
    const rows = await runInDurableObject(account, (_i, state) =>
      state.storage.sql.exec("SELECT * FROM idempotency").toArray(),
    );
    expect(rows).toHaveLength(1);
    const stored = rows.map((r) => ({
      ...r,
      body: new TextDecoder().decode(r.body as ArrayBuffer),
    }));
    expect(JSON.stringify(stored)).not.toContain(api_key);
    expect(JSON.stringify(stored)).not.toContain(key);
  });

  it("refuses a short signup key, since a replay would hand out the account's key", async () => {
    const res = await api("/v1/accounts", jsonInit("POST", {}, { "idempotency-key": "abc" }));
    await expectProblem(res, 400, "idempotency_key_invalid");
  });

  it("replays a created API key rather than minting a second one", async () => {
    const { apiKey } = await signup();
    const key = uuid();
    const init = () =>
      jsonInit("POST", { scopes: ["jobs"] }, bearer(apiKey, { "idempotency-key": key }));
    const first = (await (await api("/v1/keys", init())).json()) as { id: string };
    const retry = await api("/v1/keys", init());
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as { id: string }).id).toBe(first.id);
    const { data } = (await (await api("/v1/keys", { headers: bearer(apiKey) })).json()) as {
      data: unknown[];
    };
    expect(data).toHaveLength(2);
  });

  it("accepts the key as a quoted structured-field string, as the IETF draft writes it", async () => {
    const { apiKey } = await signup();
    const key = uuid();
    const a = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["jobs"] }, bearer(apiKey, { "idempotency-key": `"${key}"` })),
    );
    const b = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["jobs"] }, bearer(apiKey, { "idempotency-key": key })),
    );
    expect(((await b.json()) as { id: string }).id).toBe(((await a.json()) as { id: string }).id);
  });

  it("answers 422 when the same key comes with a different body", async () => {
    const { apiKey } = await signup();
    const key = uuid();
    await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["jobs"] }, bearer(apiKey, { "idempotency-key": key })),
    );
    const res = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["storage"] }, bearer(apiKey, { "idempotency-key": key })),
    );
    await expectProblem(res, 422, "idempotency_key_reused");
  });

  it("answers 409 while the first request with the key is still running", async () => {
    const { accountId, apiKey } = await signup();
    const key = uuid();
    const body = JSON.stringify({ scopes: ["jobs"] });
    // Put the key in flight exactly as a concurrent first request would.
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
    const print = await requestFingerprint("POST", "/v1/keys", new TextEncoder().encode(body));
    expect((await account.idempotencyBegin(await idempotencyRecordId(key), print)).kind).toBe(
      "proceed",
    );

    const res = await api("/v1/keys", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...bearer(apiKey, { "idempotency-key": key }),
      },
      body,
    });
    await expectProblem(res, 409, "idempotency_key_in_flight");
    expect(res.headers.get("retry-after")).toBe("1");
  });

  it("does not store refusals: a retry after fixing the cause runs", async () => {
    const { apiKey } = await signup();
    const key = uuid();
    const bad = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["root"] }, bearer(apiKey, { "idempotency-key": key })),
    );
    await expectProblem(bad, 400, "validation_failed");
    // Same key, same (still invalid) body: evaluated again, not replayed from storage.
    const again = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["root"] }, bearer(apiKey, { "idempotency-key": key })),
    );
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    await expectProblem(again, 400, "validation_failed");
  });

  it("rejects a malformed key", async () => {
    const { apiKey } = await signup();
    const res = await api(
      "/v1/keys",
      jsonInit(
        "POST",
        { scopes: ["jobs"] },
        bearer(apiKey, { "idempotency-key": "x".repeat(300) }),
      ),
    );
    await expectProblem(res, 400, "idempotency_key_invalid");
  });
});
