import { createMiddleware } from "hono/factory";
import { sha256 } from "../../protocol/digest.ts";
import { config } from "../config.ts";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./types.ts";

/**
 * Whether `authorization` carries the operator's `ADMIN_TOKEN`. Compares digests, not the
 * strings: equal-length inputs and no early exit on the first mismatch.
 */
export async function isOperator(
  authorization: string | undefined,
  adminToken: string | undefined,
): Promise<boolean> {
  if (!adminToken || !authorization) return false;
  const [a, b] = await Promise.all([
    sha256(authorization.replace(/^Bearer\s+/i, "")),
    sha256(adminToken),
  ]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Platform-wide routes (`/v1/admin/*`) answer only the operator's `ADMIN_TOKEN` as a bearer
 * token. An API key's `admin` scope is an account's own admin (it manages that account's keys)
 * and every account's first key has it, so it cannot open the platform's books.
 */
export const requireOperator = createMiddleware<AppEnv>(async (c, next) => {
  const token = config(c.env).adminToken;
  if (!token) {
    throw new ApiError(
      "admin_not_configured",
      "Set the ADMIN_TOKEN secret (`wrangler secret put ADMIN_TOKEN`, or .dev.vars locally) to use /v1/admin.",
    );
  }
  if (!(await isOperator(c.req.header("authorization"), token))) {
    throw new ApiError("unauthenticated", "Send the operator's ADMIN_TOKEN as a bearer token.", {
      headers: { "www-authenticate": 'Bearer realm="tessera-admin"' },
    });
  }
  await next();
});
