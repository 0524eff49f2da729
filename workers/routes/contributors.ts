import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { publicKeyOf } from "../../durable-objects/dispatcher/handshake.ts";
import {
  IntentSchema,
  NewIntentSchema,
  SETTLEMENT_NOT_CONFIGURED,
  StakeBody,
  UnstakeBody,
  unstakeMessage,
} from "../../protocol/billing.ts";
import { SolanaAddress, TRUST_TIERS } from "../../protocol/contributor.ts";
import { sha256 } from "../../protocol/digest.ts";
import { base32, randomBase32 } from "../../protocol/ids.ts";
import { MicrosSchema } from "../../protocol/money.ts";
import { config } from "../config.ts";
import { idempotencyKey } from "../http/idempotency.ts";
import { jsonBody } from "../http/json.ts";
import {
  IdempotencyKeyHeader,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import { newIntentBody, requireSettlement, treasuryStub } from "../http/settlement.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/contributors/{address}`: a contributor's public record (trust, results, earnings, stake,
 * payouts with their signatures), public like the chain it is paid on; and its stake.
 *
 * Stake needs no API key: a stake request only ever credits stake to the address in its path, and
 * stake only ever leaves to that contributor's payout address (or to insurance when it cheats),
 * so whoever pays it can only add to that contributor's stake. Unstaking moves money and lowers
 * the tier, so it must be signed by the contributor's own ed25519 key (`unstakeMessage`).
 */
export const contributors = new OpenAPIHono<AppEnv>();

const ContributorSchema = z
  .object({
    address: z.string(),
    trust: z.enum(TRUST_TIERS),
    record: z.object({
      accepted: z.number().int(),
      rejected: z.number().int(),
      streak: z
        .number()
        .int()
        .openapi({ description: "Accepted results since the last rejected one" }),
      jobs: z.number().int(),
    }),
    earnings: z.object({
      available: MicrosSchema.openapi({ description: "Earned, settled and not yet paid out" }),
      pending: MicrosSchema.openapi({ description: "In a payout that has not landed yet" }),
      paid: MicrosSchema,
    }),
    stake: z.object({
      locked: MicrosSchema.openapi({ description: "Counts for the trust tier; slashable" }),
      unstaking: MicrosSchema.openapi({ description: "Cooling down, still slashable" }),
      slashed: MicrosSchema.openapi({ description: "Lost to insurance for rejected results" }),
      paid_back: MicrosSchema,
      unlocks_at: z.string().nullable(),
    }),
    payouts: z.array(
      z.object({
        id: z.string(),
        kind: z.enum(["earnings", "unstake"]),
        amount: MicrosSchema,
        address: z.string(),
        status: z.enum(["pending", "paid"]),
        signature: z.string().nullable().openapi({ description: "The batch's transaction" }),
        created_at: z.string(),
        paid_at: z.string().nullable(),
      }),
    ),
    last_caught_at: z.string().nullable(),
    payout_address: z.string().openapi({ description: "Where earnings are paid" }),
    payouts_enabled: z.boolean().openapi({
      description:
        "Whether this deployment pays out on Solana; when false, earnings accumulate and `payouts_note` says what the operator must configure",
    }),
    payouts_note: z.string().nullable(),
  })
  .openapi("Contributor");

const route = createRoute({
  method: "get",
  path: "/v1/contributors/{address}",
  tags: ["Contributors"],
  summary: "A contributor's record and earnings",
  request: {
    params: z.object({
      address: SolanaAddress.openapi({ param: { name: "address", in: "path" } }),
    }),
  },
  responses: {
    200: json(ContributorSchema, "The contributor (a key never seen has an empty record)"),
    ...problemResponses("validation_failed"),
  },
});

contributors.openapi(route, async (c) => {
  const { address } = c.req.valid("param");
  const stub = c.env.CONTRIBUTOR.get(c.env.CONTRIBUTOR.idFromName(address));
  return c.json(withPayoutStatus(c.env, await stub.view(address)), 200);
});

/** A contributor's record with whether this deployment pays out (and if not, what to set). */
function withPayoutStatus<T extends object>(env: AppEnv["Bindings"], view: T) {
  const enabled = config(env).solana !== null;
  return {
    ...view,
    payouts_enabled: enabled,
    payouts_note: enabled ? null : SETTLEMENT_NOT_CONFIGURED,
  };
}

const AddressParam = z.object({
  address: SolanaAddress.openapi({ param: { name: "address", in: "path" } }),
});

const stake = createRoute({
  method: "post",
  path: "/v1/contributors/{address}/stake",
  tags: ["Contributors"],
  summary: "Request a stake payment (Solana Pay)",
  description:
    "Creates a stake intent for the contributor and returns its Solana Pay transfer request and QR code, like a deposit; the USDC that arrives is locked as the contributor's stake. No API key (see the module note). With an Idempotency-Key a retry returns the same request.",
  middleware: [jsonBody] as const,
  request: { params: AddressParam, headers: IdempotencyKeyHeader, body: jsonRequest(StakeBody) },
  responses: {
    201: json(NewIntentSchema, "The stake request"),
    ...problemResponses(...JSON_BODY_PROBLEMS, "idempotency_key_invalid", "billing_not_configured"),
  },
});

contributors.openapi(stake, async (c) => {
  requireSettlement(c.env);
  const { address } = c.req.valid("param");
  const { amount } = c.req.valid("json");
  const min = config(c.env).depositMin;
  if (amount < min) {
    throw new ApiError("validation_failed", `A stake is at least ${min} base units.`, {
      errors: [{ path: "amount", message: `must be at least ${min}` }],
    });
  }
  const key = idempotencyKey(c);
  // No account to store a response in: the key names the intent, which the Treasury keeps.
  const id = key
    ? `stk_${base32(await sha256(`tessera stake\n${address}\n${key}`)).slice(0, 20)}`
    : `stk_${randomBase32(20)}`;
  const outcome = await treasuryStub(c.env).createIntent({
    id,
    kind: "stake",
    owner: address,
    amount,
  });
  return c.json(newIntentBody(outcome), 201);
});

const getStake = createRoute({
  method: "get",
  path: "/v1/contributors/{address}/stake/{id}",
  tags: ["Contributors"],
  summary: "A stake payment's state",
  request: {
    params: AddressParam.extend({
      id: z
        .string()
        .regex(/^stk_[a-z2-7]{20}$/)
        .openapi({ param: { name: "id", in: "path" } }),
    }),
  },
  responses: {
    200: json(IntentSchema, "The stake intent"),
    ...problemResponses("validation_failed", "deposit_not_found", "billing_not_configured"),
  },
});

contributors.openapi(getStake, async (c) => {
  requireSettlement(c.env);
  const { address, id } = c.req.valid("param");
  const intent = await treasuryStub(c.env).intent(id);
  if (intent?.kind !== "stake" || intent.owner !== address) {
    throw new ApiError("deposit_not_found", `No stake ${id} for ${address}.`);
  }
  return c.json(intent, 200);
});

const unstake = createRoute({
  method: "post",
  path: "/v1/contributors/{address}/unstake",
  tags: ["Contributors"],
  summary: "Unstake (signed by the contributor)",
  description:
    "Moves `amount` of locked stake to unstaking: it stops counting for the trust tier at once, stays slashable during the cooldown (`UNSTAKE_COOLDOWN`), and is then paid to the contributor's payout address like earnings. `signature`: base64 ed25519 signature by the address's key over `tessera unstake v1\\n<address>\\n<amount>\\n<request_id>`; the same `request_id` again unstakes once.",
  middleware: [jsonBody] as const,
  request: { params: AddressParam, body: jsonRequest(UnstakeBody) },
  responses: {
    200: json(ContributorSchema, "The contributor, with the stake unstaking"),
    ...problemResponses(
      ...JSON_BODY_PROBLEMS,
      "bad_signature",
      "insufficient_stake",
      "billing_not_configured",
    ),
  },
});

contributors.openapi(unstake, async (c) => {
  requireSettlement(c.env);
  const { address } = c.req.valid("param");
  const body = c.req.valid("json");
  if (
    !(await verifySigned(
      address,
      body.signature,
      unstakeMessage(address, body.amount, body.request_id),
    ))
  ) {
    throw new ApiError(
      "bad_signature",
      `The signature is not ${address}'s over this unstake request.`,
    );
  }
  const stub = c.env.CONTRIBUTOR.get(c.env.CONTRIBUTOR.idFromName(address));
  const outcome = await stub.unstake(address, `unstake:${body.request_id}`, body.amount);
  if (!outcome.ok) {
    throw new ApiError("insufficient_stake", `Only ${outcome.locked} base units are locked.`);
  }
  return c.json(withPayoutStatus(c.env, outcome.view), 200);
});

async function verifySigned(
  address: string,
  signatureBase64: string,
  message: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const key = publicKeyOf(address);
  if (!key) return false;
  const signature = Uint8Array.from(atob(signatureBase64), (ch) => ch.charCodeAt(0));
  try {
    const publicKey = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, [
      "verify",
    ]);
    return await crypto.subtle.verify({ name: "Ed25519" }, publicKey, signature, message);
  } catch {
    return false; // not a point on the curve: not a key, so not a signature
  }
}
