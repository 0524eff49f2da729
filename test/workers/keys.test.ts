import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

async function createKey(admin: string, scopes: string[], name?: string) {
  const res = await api("/v1/keys", jsonInit("POST", { scopes, name }, bearer(admin)));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; api_key: string; prefix: string; scopes: string[] };
}

describe("API keys", () => {
  it("creates a scoped key that works and shows only its prefix in listings", async () => {
    const { apiKey } = await signup();
    const storage = await createKey(apiKey, ["storage"], "uploader");
    expect(storage.scopes).toEqual(["storage"]);
    expect(storage.api_key.startsWith(storage.prefix)).toBe(true);

    const me = await api("/v1/account", { headers: bearer(storage.api_key) });
    expect(me.status).toBe(200);

    const list = await api("/v1/keys", { headers: bearer(apiKey) });
    const { data } = (await list.json()) as { data: Record<string, unknown>[] };
    expect(data).toHaveLength(2);
    const listed = data.find((k) => k.id === storage.id);
    expect(listed).toMatchObject({ name: "uploader", scopes: ["storage"], revoked_at: null });
    expect(JSON.stringify(data)).not.toContain(storage.api_key);
    expect(JSON.stringify(data)).not.toContain(apiKey);
  });

  it("refuses a key without the admin scope with 403", async () => {
    const { apiKey } = await signup();
    const jobsOnly = await createKey(apiKey, ["jobs"]);
    await expectProblem(
      await api("/v1/keys", { headers: bearer(jobsOnly.api_key) }),
      403,
      "insufficient_scope",
    );
    await expectProblem(
      await api("/v1/keys", jsonInit("POST", { scopes: ["admin"] }, bearer(jobsOnly.api_key))),
      403,
      "insufficient_scope",
    );
  });

  it("revokes a key at once, and revoking again is harmless", async () => {
    const { apiKey } = await signup();
    const doomed = await createKey(apiKey, ["jobs", "storage"]);
    const first = await api(`/v1/keys/${doomed.id}`, { method: "DELETE", headers: bearer(apiKey) });
    expect(first.status).toBe(200);
    const revokedAt = ((await first.json()) as { revoked_at: string }).revoked_at;
    expect(revokedAt).toBeTruthy();

    await expectProblem(
      await api("/v1/account", { headers: bearer(doomed.api_key) }),
      401,
      "unauthenticated",
    );

    const again = await api(`/v1/keys/${doomed.id}`, { method: "DELETE", headers: bearer(apiKey) });
    expect(((await again.json()) as { revoked_at: string }).revoked_at).toBe(revokedAt);
    // The account's other key still works.
    expect((await api("/v1/account", { headers: bearer(apiKey) })).status).toBe(200);
  });

  it("answers 404 for a key that is not in the account and 400 for a malformed id", async () => {
    const a = await signup();
    const b = await signup();
    const bKey = await createKey(b.apiKey, ["jobs"]);
    await expectProblem(
      await api(`/v1/keys/${bKey.id}`, { method: "DELETE", headers: bearer(a.apiKey) }),
      404,
      "key_not_found",
    );
    // b's key still works: a cannot revoke it.
    expect((await api("/v1/account", { headers: bearer(bKey.api_key) })).status).toBe(200);
    await expectProblem(
      await api("/v1/keys/not-a-key", { method: "DELETE", headers: bearer(a.apiKey) }),
      400,
      "validation_failed",
    );
  });

  it("rejects unknown scopes and empty scope lists", async () => {
    const { apiKey } = await signup();
    for (const scopes of [["root"], []]) {
      const res = await api("/v1/keys", jsonInit("POST", { scopes }, bearer(apiKey)));
      const body = await expectProblem(res, 400, "validation_failed");
      expect(JSON.stringify(body.errors)).toContain("scopes");
    }
  });
});
