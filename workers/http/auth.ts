import { createMiddleware } from "hono/factory";
import type { Scope } from "../../protocol/accounts.ts";
import { type AccountId, parseApiKey } from "../../protocol/ids.ts";
import { config } from "../config.ts";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./types.ts";

/** The one policy name in `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers). */
const POLICY = '"per-key"';

export function accountStub(env: AppEnv["Bindings"], accountId: AccountId) {
  return env.ACCOUNT.get(env.ACCOUNT.idFromName(accountId));
}

/**
 * Resolves `Authorization: Bearer <api_key>` to a principal and counts the request against the
 * key's rate limit. The key names its account, so this is one Durable Object call; the object
 * compares hashes. Every authenticated response carries the rate-limit fields.
 */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new ApiError("unauthenticated", "Send an API key as `Authorization: Bearer <api_key>`.", {
      headers: { "www-authenticate": 'Bearer realm="tessera"' },
    });
  }
  const apiKey = match[1];
  const parsed = parseApiKey(apiKey);
  const invalid = new ApiError("unauthenticated", "The API key is invalid or revoked.", {
    headers: { "www-authenticate": 'Bearer realm="tessera", error="invalid_token"' },
  });
  if (!parsed) throw invalid;

  const account = accountStub(c.env, parsed.accountId);
  const windowSeconds = 60;
  const limit = config(c.env).rateLimitPerMinute;
  const outcome = await account.authenticate(apiKey, { limit, windowSeconds });
  if (!outcome.ok) throw invalid;

  const { rate } = outcome;
  const rateHeaders = {
    "ratelimit-policy": `${POLICY};q=${rate.limit};w=${rate.windowSeconds}`,
    ratelimit: `${POLICY};r=${rate.remaining};t=${rate.resetSeconds}`,
  };
  if (!rate.allowed) {
    throw new ApiError(
      "rate_limited",
      `This key may make ${rate.limit} requests every ${rate.windowSeconds} s; retry in ${rate.resetSeconds} s.`,
      { headers: { ...rateHeaders, "retry-after": String(rate.resetSeconds) } },
    );
  }
  c.set("principal", outcome.principal);
  c.set("account", account);
  await next();
  for (const [k, v] of Object.entries(rateHeaders)) c.res.headers.set(k, v);
});

/** Refuses the request with 403 unless the key carries `scope`. */
export function requireScope(scope: Scope) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!c.var.principal.scopes.includes(scope)) {
      throw new ApiError(
        "insufficient_scope",
        `This route needs an API key with the \`${scope}\` scope.`,
      );
    }
    await next();
  });
}
