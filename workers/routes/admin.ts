import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { MicrosSchema } from "../../protocol/money.ts";
import { json, problemResponses, SECURITY } from "../http/openapi.ts";
import { requireOperator } from "../http/operator.ts";
import { treasuryStub } from "../http/settlement.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/admin`: the operator's view of the platform, with `ADMIN_TOKEN` (see `http/operator.ts`).
 */
export const admin = new OpenAPIHono<AppEnv>();

const LedgerSchema = z
  .object({
    as_of: z.string(),
    sources: z.object({
      trial_credit: MicrosSchema,
      deposits: MicrosSchema,
      stake: MicrosSchema,
      total: MicrosSchema,
    }),
    holdings: z.object({
      accounts_available: MicrosSchema,
      accounts_held: MicrosSchema,
      contributors_available: MicrosSchema,
      payouts_pending: MicrosSchema,
      stake_locked: MicrosSchema,
      stake_unstaking: MicrosSchema,
      fees: MicrosSchema,
      metered_revenue: MicrosSchema,
      insurance: MicrosSchema,
      paid_out: MicrosSchema,
      in_transit: MicrosSchema,
      total: MicrosSchema,
    }),
    balanced: z.boolean(),
    difference: z.number().int().openapi({ description: "sources − holdings; 0 when balanced" }),
    counts: z.object({ accounts: z.number().int(), contributors: z.number().int() }),
    on_chain: z.object({
      configured: z.boolean(),
      balance: MicrosSchema.nullable().openapi({
        description: "The treasury's USDC account at `finalized`, from the RPC",
      }),
      expected: z.number().int().openapi({ description: "Received on chain − paid out" }),
      uncredited_receipts: MicrosSchema.openapi({
        description: "Refused payments that arrived (owed back by the operator)",
      }),
      float: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "balance − expected: the operator's own USDC in the treasury" }),
    }),
  })
  .openapi("LedgerProof");

const ledger = createRoute({
  method: "get",
  path: "/v1/admin/ledger",
  tags: ["Admin"],
  summary: "Prove the books",
  description:
    "Every base unit that came in (trial credit, deposits, stake) against where it is now (account balances and holds, contributors' unpaid earnings, pending payouts and stake, fees, metered revenue, insurance, paid out, in transit), with the on-chain treasury balance alongside. Operator only: the `ADMIN_TOKEN` as a bearer token.",
  security: SECURITY,
  middleware: [requireOperator] as const,
  responses: {
    200: json(LedgerSchema, "The ledger proof"),
    ...problemResponses("unauthenticated", "admin_not_configured"),
  },
});

admin.openapi(ledger, async (c) => {
  const proof = await treasuryStub(c.env).ledger();
  return c.json(proof as z.infer<typeof LedgerSchema>, 200);
});
