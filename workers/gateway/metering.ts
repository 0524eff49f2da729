import type { Context } from "hono";
import type { CID } from "multiformats/cid";
import { parseApiKey } from "../../protocol/ids.ts";
import { accountStub } from "../http/auth.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * Gateway metering: each response becomes one `gateway.served` usage event with an id made for
 * that response (not the client-suppliable request id), so a retried write of the event is a
 * no-op and no client can make two responses collapse into one event.
 *
 * The gateway is public, so whose usage is it? A request that carries a valid API key is metered
 * to that key's account (SDKs and dashboards send one); an anonymous request is metered to the
 * platform's own usage record (the `platform` Account object), so egress is always counted even
 * when nobody can be billed for it. Recording happens after the response, in `waitUntil`; on a
 * customer's account it is also the egress charge (`EGRESS_PRICE_GIB_MICROS`, fractions of a base
 * unit carried), attributed to the key.
 */
export const PLATFORM_USAGE = "platform";

/**
 * Refuses (402 `spend_cap_exceeded`) a read that carries one of an account's keys when that key's
 * or the account's monthly spend cap is already reached: its egress would pass the cap. Reads
 * without a key, or with one that does not authenticate, are never refused here.
 */
export async function refuseOverCap(c: Context<AppEnv>): Promise<void> {
  const key = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  const parsed = key ? parseApiKey(key) : null;
  if (!key || !parsed) return;
  const refused = await accountStub(c.env, parsed.accountId).readRefusal(key);
  if (refused) throw new ApiError(refused.code, `${refused.detail}.`);
}

export function meter(c: Context<AppEnv>, cid: CID): (bytes: number) => void {
  let recorded = false;
  return (bytes) => {
    if (recorded) return;
    recorded = true;
    c.executionCtx.waitUntil(record(c, cid, bytes, `served:${crypto.randomUUID()}`));
  };
}

async function record(c: Context<AppEnv>, cid: CID, bytes: number, id: string): Promise<void> {
  const key = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  const parsed = key ? parseApiKey(key) : null;
  if (key && parsed) {
    const account = accountStub(c.env, parsed.accountId);
    // Only a key that authenticates may have usage recorded against its account; identifying it
    // does not count against the key's API rate limit.
    if (await account.identify(key)) {
      await account.recordUsage(id, "gateway.served", bytes, cid.toString(), parsed.keyId);
      return;
    }
  }
  const platform = c.env.ACCOUNT.get(c.env.ACCOUNT.idFromName(PLATFORM_USAGE));
  await platform.recordUsage(id, "gateway.served", bytes, cid.toString());
}
