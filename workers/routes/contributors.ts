import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { SolanaAddress, TRUST_TIERS } from "../../protocol/contributor.ts";
import { MicrosSchema } from "../../protocol/money.ts";
import { json, problemResponses } from "../http/openapi.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `GET /v1/contributors/{address}`: a contributor's public record: trust, results accepted and
 * rejected, earnings. Public like the chain it is paid on: no API key.
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
      paid: MicrosSchema,
    }),
    last_caught_at: z.string().nullable(),
    payout_address: z.string().openapi({ description: "Where earnings are paid" }),
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
  return c.json(await stub.view(address), 200);
});
