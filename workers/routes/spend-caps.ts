import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { KeyIdSchema } from "../../protocol/accounts.ts";
import { SpendCap, SpendCapBody } from "../../protocol/metering.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { jsonBody } from "../http/json.ts";
import {
  AUTHENTICATED_PROBLEMS,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * Monthly spend caps (base units per calendar month, UTC) on the account and on each API key.
 * A request that would pass a cap (a job's hold, an upload's storage for the rest of the month)
 * is refused with 402 `spend_cap_exceeded` and changes nothing. Setting a cap is idempotent (a
 * PUT of the whole value). The account's cap needs scope `billing`; a key's cap, like every key
 * route, `admin`.
 */
export const spendCaps = new OpenAPIHono<AppEnv>();

const putAccount = createRoute({
  method: "put",
  path: "/v1/account/spend-cap",
  tags: ["Billing"],
  summary: "Set the account's monthly spend cap",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing"), jsonBody] as const,
  request: { body: jsonRequest(SpendCapBody) },
  responses: {
    200: json(SpendCap, "The cap and what this month has spent"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, ...JSON_BODY_PROBLEMS),
  },
});

spendCaps.openapi(putAccount, async (c) => {
  const { monthly_limit } = c.req.valid("json");
  const cap = await c.var.account.setSpendCap("account", monthly_limit);
  if (!cap) throw new Error("the account scope always exists");
  return c.json(cap, 200);
});

const getAccount = createRoute({
  method: "get",
  path: "/v1/account/spend-cap",
  tags: ["Billing"],
  summary: "The account's monthly spend cap and this month's spend",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing")] as const,
  responses: {
    200: json(SpendCap, "The cap (null: none) and what this month has spent"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS),
  },
});

spendCaps.openapi(getAccount, async (c) => {
  const cap = await c.var.account.spendCap("account");
  if (!cap) throw new Error("the account scope always exists");
  return c.json(cap, 200);
});

const KeyParam = z.object({ id: KeyIdSchema.openapi({ param: { name: "id", in: "path" } }) });

const putKey = createRoute({
  method: "put",
  path: "/v1/keys/{id}/spend-cap",
  tags: ["Keys"],
  summary: "Set an API key's monthly spend cap",
  description:
    "Caps what requests made with this key may spend per month: its jobs (holds and captures), the storage of its uploads and the egress of its gateway reads.",
  security: SECURITY,
  middleware: [authenticate, requireScope("admin"), jsonBody] as const,
  request: { params: KeyParam, body: jsonRequest(SpendCapBody) },
  responses: {
    200: json(SpendCap, "The key's cap and what it has spent this month"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, ...JSON_BODY_PROBLEMS, "key_not_found"),
  },
});

spendCaps.openapi(putKey, async (c) => {
  const { id } = c.req.valid("param");
  const cap = await c.var.account.setSpendCap(id, c.req.valid("json").monthly_limit);
  if (!cap) throw new ApiError("key_not_found", `No key ${id} in this account.`);
  return c.json(cap, 200);
});

const getKey = createRoute({
  method: "get",
  path: "/v1/keys/{id}/spend-cap",
  tags: ["Keys"],
  summary: "An API key's monthly spend cap and this month's spend",
  security: SECURITY,
  middleware: [authenticate, requireScope("admin")] as const,
  request: { params: KeyParam },
  responses: {
    200: json(SpendCap, "The key's cap (null: none) and what it has spent this month"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "key_not_found"),
  },
});

spendCaps.openapi(getKey, async (c) => {
  const { id } = c.req.valid("param");
  const cap = await c.var.account.spendCap(id);
  if (!cap) throw new ApiError("key_not_found", `No key ${id} in this account.`);
  return c.json(cap, 200);
});
