import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { DepositBody, IntentSchema, NewIntentSchema } from "../../protocol/billing.ts";
import { sha256 } from "../../protocol/digest.ts";
import { base32, randomBase32 } from "../../protocol/ids.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { idempotencyKey, runIdempotent } from "../http/idempotency.ts";
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
import { newIntentBody, requireSettlement, treasuryStub } from "../http/settlement.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/billing/deposits`: prepaid USDC in, as Solana Pay transfer requests (issue 7). Scope
 * `billing`. The Treasury watches each request's reference on the configured RPC and credits the
 * account once, with what arrived, when the payment is finalized.
 */
export const billing = new OpenAPIHono<AppEnv>();

const createDeposit = createRoute({
  method: "post",
  path: "/v1/billing/deposits",
  tags: ["Billing"],
  summary: "Request a deposit (Solana Pay)",
  description:
    "Creates a deposit intent and returns a Solana Pay transfer request: a `solana:` URL naming the treasury, the amount in USDC, the USDC mint, a fresh `reference`, a label and a memo, and the same as an SVG QR code. Pay it from any Solana Pay wallet before `expires_at`. The account is credited once, with the USDC that arrived, when the payment is finalized; a payment below `amount`, in another token, to another account, or already credited elsewhere is refused and shown as such. With an Idempotency-Key a retry returns the same request. Without Solana settlement configured: 503 `billing_not_configured`.",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing"), jsonBody] as const,
  request: { headers: IdempotencyKeyHeader, body: jsonRequest(DepositBody) },
  responses: {
    201: json(NewIntentSchema, "The deposit request"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      ...JSON_BODY_PROBLEMS,
      ...IDEMPOTENCY_PROBLEMS,
      "billing_not_configured",
    ),
  },
});

billing.openapi(createDeposit, async (c) => {
  requireSettlement(c.env);
  const { amount } = c.req.valid("json");
  const min = config(c.env).depositMin;
  if (amount < min) {
    throw new ApiError("validation_failed", `A deposit is at least ${min} base units.`, {
      errors: [{ path: "amount", message: `must be at least ${min}` }],
    });
  }
  const key = idempotencyKey(c);
  const accountId = c.var.principal.accountId;
  const response = await runIdempotent(c, c.var.account, key, async () => {
    // With an Idempotency-Key the intent id follows from it, so a retry after a crash finds the
    // same intent (and reference) rather than opening a second one.
    const id = key ? await depositIdFor(accountId, key) : `dep_${randomBase32(20)}`;
    const outcome = await treasuryStub(c.env).createIntent({
      id,
      kind: "deposit",
      owner: accountId,
      amount,
    });
    return c.json(newIntentBody(outcome), 201);
  });
  return response as never;
});

const getDeposit = createRoute({
  method: "get",
  path: "/v1/billing/deposits/{id}",
  tags: ["Billing"],
  summary: "A deposit's state",
  description:
    "The deposit intent: `pending`, `credited` (with the amount received and the transaction signature), `rejected` (with the reason code) or `expired`.",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing")] as const,
  request: {
    params: z.object({
      id: z
        .string()
        .regex(/^dep_[a-z2-7]{20}$/)
        .openapi({ param: { name: "id", in: "path" } }),
    }),
  },
  responses: {
    200: json(IntentSchema, "The deposit"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      "validation_failed",
      "deposit_not_found",
      "billing_not_configured",
    ),
  },
});

billing.openapi(getDeposit, async (c) => {
  requireSettlement(c.env);
  const { id } = c.req.valid("param");
  const intent = await treasuryStub(c.env).intent(id);
  if (intent?.kind !== "deposit" || intent.owner !== c.var.principal.accountId) {
    throw new ApiError("deposit_not_found", `No deposit ${id} on this account.`);
  }
  return c.json(intent, 200);
});

async function depositIdFor(accountId: string, key: string): Promise<string> {
  const digest = await sha256(`tessera deposit\n${accountId}\n${key}`);
  return `dep_${base32(digest).slice(0, 20)}`;
}
