import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { MicrosSchema } from "../../protocol/money.ts";
import { config } from "../config.ts";
import { json } from "../http/openapi.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `GET /v1/prices`: this deployment's price list, public. Compute is priced per work unit and
 * replica (docs/kernels.md, "Work units and price") plus the platform fee; storage per GiB-month
 * held and egress per GiB served (metered; billed once billing lands).
 */
export const prices = new OpenAPIHono<AppEnv>();

const PriceList = z
  .object({
    currency: z.literal("USDC"),
    decimals: z.literal(6),
    compute: z.object({
      unit: z.literal("work unit × replica"),
      render: MicrosSchema,
      inference: MicrosSchema,
      wgsl: MicrosSchema,
      platform_fee_bps: z.number().int(),
    }),
    storage: z.object({ unit: z.literal("GiB-month"), price: MicrosSchema }),
    egress: z.object({ unit: z.literal("GiB"), price: MicrosSchema }),
  })
  .openapi("PriceList", { description: "Prices in USDC base units (1e-6 USDC)" });

const route = createRoute({
  method: "get",
  path: "/v1/prices",
  tags: ["Billing"],
  summary: "The price list",
  responses: { 200: json(PriceList, "This deployment's prices") },
});

prices.openapi(route, (c) => {
  const cfg = config(c.env);
  return c.json(
    {
      currency: "USDC" as const,
      decimals: 6 as const,
      compute: {
        unit: "work unit × replica" as const,
        ...cfg.prices.unit_price,
        platform_fee_bps: cfg.prices.platform_fee_bps,
      },
      storage: { unit: "GiB-month" as const, price: cfg.storagePrice },
      egress: { unit: "GiB" as const, price: cfg.egressPrice },
    },
    200,
  );
});
