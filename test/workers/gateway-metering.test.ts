import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PLATFORM_USAGE } from "../../workers/gateway/metering.ts";
import { api, bearer, signup } from "./helpers.ts";

type Stub = {
  usageEvents(): Promise<{ id: string; kind: string; bytes: number; cid: string | null }[]>;
};

/** Usage is recorded after the response (waitUntil): wait until it shows up. */
async function servedEvents(stub: Stub, cid: string) {
  for (let i = 0; i < 100; i++) {
    const events = (await stub.usageEvents()).filter(
      (e) => e.kind === "gateway.served" && e.cid === cid,
    );
    if (events.length > 0) return events;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [];
}

describe("gateway metering", () => {
  it("records bytes served to the account of the key that asked, once per response", async () => {
    const { accountId, apiKey } = await signup();
    const body = new TextEncoder().encode("served to a customer");
    const up = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body,
    });
    const { cid } = (await up.json()) as { cid: string };
    const res = await api(`/ipfs/${cid}`, { headers: bearer(apiKey) });
    expect(await res.text()).toBe("served to a customer");
    const account = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
    const events = await servedEvents(account, cid);
    expect(events.map((e) => e.bytes)).toEqual([body.length]);
    expect(events[0]?.id).toMatch(/^served:[0-9a-f-]{36}$/);
  });

  it("records anonymous reads to the platform's usage, never to a forged key's account", async () => {
    const { accountId, apiKey } = await signup();
    const up = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
      body: "anonymous reader",
    });
    const { cid } = (await up.json()) as { cid: string };
    const forged = `${apiKey.slice(0, -4)}aaaa`;
    await (await api(`/ipfs/${cid}`, { headers: bearer(forged) })).text();
    const platform = env.ACCOUNT.get(env.ACCOUNT.idFromName(PLATFORM_USAGE));
    expect((await servedEvents(platform, cid)).map((e) => e.bytes)).toEqual([16]);
    const owner = env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
    expect((await owner.usageEvents()).filter((e) => e.kind === "gateway.served")).toEqual([]);
  });
});
