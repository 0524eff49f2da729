import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ApiKeyInfo, CreatedApiKey, CreateKeyBody, KeyIdSchema } from "../../protocol/accounts.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { idempotent } from "../http/idempotency.ts";
import { jsonBody } from "../http/json.ts";
import {
  AUTHENTICATED_PROBLEMS,
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKeyHeader,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/** `/v1/keys`: API keys of the caller's account. Every route needs the `admin` scope. */
export const keys = new OpenAPIHono<AppEnv>();

const createKey = createRoute({
  method: "post",
  path: "/v1/keys",
  tags: ["Keys"],
  summary: "Create an API key",
  security: SECURITY,
  middleware: [authenticate, requireScope("admin"), jsonBody, idempotent] as const,
  request: { headers: IdempotencyKeyHeader, body: jsonRequest(CreateKeyBody) },
  responses: {
    201: json(CreatedApiKey, "The new key; `api_key` is shown only in this response"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, ...JSON_BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS),
  },
});

keys.openapi(createKey, async (c) => {
  const { scopes, name } = c.req.valid("json");
  const created = await c.var.account.createKey(scopes, name);
  return c.json(created, 201);
});

const listKeys = createRoute({
  method: "get",
  path: "/v1/keys",
  tags: ["Keys"],
  summary: "List API keys",
  security: SECURITY,
  middleware: [authenticate, requireScope("admin")] as const,
  responses: {
    200: json(z.object({ data: z.array(ApiKeyInfo) }), "Keys, newest first, revoked ones included"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS),
  },
});

keys.openapi(listKeys, async (c) => c.json({ data: await c.var.account.listKeys() }, 200));

const revokeKey = createRoute({
  method: "delete",
  path: "/v1/keys/{id}",
  tags: ["Keys"],
  summary: "Revoke an API key",
  description: "Revocation is immediate and permanent; revoking twice is harmless.",
  security: SECURITY,
  middleware: [authenticate, requireScope("admin")] as const,
  request: { params: z.object({ id: KeyIdSchema }) },
  responses: {
    200: json(ApiKeyInfo, "The revoked key"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "key_not_found"),
  },
});

keys.openapi(revokeKey, async (c) => {
  const { id } = c.req.valid("param");
  const revoked = await c.var.account.revokeKey(id);
  if (!revoked) throw new ApiError("key_not_found", `No key ${id} in this account.`);
  return c.json(revoked, 200);
});
