import { z } from "@hono/zod-openapi";
import { MicrosSchema } from "./money.ts";

/**
 * Settlement on Solana, as the API shows it (issue 7): deposit and stake intents (a Solana Pay
 * transfer request the payer's wallet signs), and the contributor's signed unstake request.
 */

/** What an operator must set for settlement, said the same way wherever it is missing. */
export const SETTLEMENT_NOT_CONFIGURED =
  "Solana settlement is off: set SOLANA_RPC_URL and USDC_MINT in [vars] and the TREASURY_KEY secret (`wrangler secret put TREASURY_KEY`; README, Configuration).";

export const INTENT_STATUSES = ["pending", "credited", "rejected", "expired"] as const;

/** A deposit (or stake) request and what became of it. */
export const IntentSchema = z
  .object({
    id: z.string(),
    kind: z.enum(["deposit", "stake"]),
    owner: z.string().openapi({ description: "The account (deposit) or contributor (stake)" }),
    status: z.enum(INTENT_STATUSES).openapi({
      description:
        "`pending`: waiting for a finalized payment; `credited`: `received` was credited once; `rejected`: a payment was found and refused (see `reason`); `expired`: nothing arrived before `expires_at`",
    }),
    amount: MicrosSchema.openapi({ description: "Asked for, USDC base units" }),
    received: MicrosSchema.openapi({
      description: "Arrived in the treasury's USDC account (also shown when refused)",
    }),
    signature: z.string().nullable().openapi({ description: "The payment's transaction" }),
    payer: z.string().nullable(),
    reason: z.object({ code: z.string(), detail: z.string() }).nullable().openapi({
      description:
        "Why it is not credited: `not_found`, `not_final` (still pending), `underpaid`, `wrong_mint`, `wrong_recipient`, `replayed`, `transaction_failed`, `expired`",
    }),
    request: z.object({
      url: z.string().openapi({ description: "The Solana Pay transfer request (`solana:` URL)" }),
      reference: z.string(),
      memo: z.string(),
    }),
    created_at: z.string(),
    expires_at: z.string(),
    checked_at: z.string().nullable(),
    settled_at: z.string().nullable(),
  })
  .openapi("Intent");

export const NewIntentSchema = IntentSchema.extend({
  recipient: z.string().openapi({ description: "The treasury wallet (owner of the USDC account)" }),
  mint: z.string().openapi({ description: "The USDC mint" }),
  qr_svg: z.string().openapi({ description: "The transfer request as a QR code (SVG)" }),
}).openapi("NewIntent");

export const DepositBody = z
  .object({ amount: MicrosSchema.openapi({ description: "USDC base units to deposit" }) })
  .strict()
  .openapi("DepositRequest");

export const StakeBody = z
  .object({ amount: MicrosSchema.openapi({ description: "USDC base units to stake" }) })
  .strict()
  .openapi("StakeRequest");

/**
 * An unstake request, signed by the contributor's key: `signature` is base64 of the ed25519
 * signature over `unstakeMessage(address, amount, request_id)`. `request_id` makes it an
 * operation: the same signed request sent twice unstakes once.
 */
export const UnstakeBody = z
  .object({
    amount: MicrosSchema.refine((n) => n > 0, "must be more than 0"),
    request_id: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
  })
  .strict()
  .openapi("UnstakeRequest");

/** What an unstake signature covers: domain-separated, so it means nothing elsewhere. */
export function unstakeMessage(
  address: string,
  amount: number,
  requestId: string,
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`tessera unstake v1\n${address}\n${amount}\n${requestId}`);
}
