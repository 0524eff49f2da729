import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { Invoice, InvoiceSummary, PeriodSchema } from "../../protocol/metering.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { AUTHENTICATED_PROBLEMS, json, problemResponses, SECURITY } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/invoices`: monthly statements (calendar months, UTC). Lines are built from the journal's
 * debits and captures in the month, so they add up to what the balance paid, to the base unit;
 * credits (trial, deposits) are listed apart. Scope `billing`.
 */
export const invoices = new OpenAPIHono<AppEnv>();

const list = createRoute({
  method: "get",
  path: "/v1/invoices",
  tags: ["Billing"],
  summary: "Monthly statements, newest first",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing")] as const,
  responses: {
    200: json(z.object({ data: z.array(InvoiceSummary) }), "One summary per month since the first"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS),
  },
});

invoices.openapi(list, async (c) => c.json({ data: await c.var.account.invoices() }, 200));

const one = createRoute({
  method: "get",
  path: "/v1/invoices/{period}",
  tags: ["Billing"],
  summary: "The statement of one month",
  description:
    "Line items (meter, quantity, unit, unit price, amount, period): storage in GiB-months and egress in GiB grouped per unit price, one line per settled job; `total` is the sum of the lines and equals the journal's debits and captures dated in the month. A month that has not begun is `invoice_not_found`; the running month is `open`.",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing")] as const,
  request: {
    params: z.object({ period: PeriodSchema.openapi({ param: { name: "period", in: "path" } }) }),
  },
  responses: {
    200: json(Invoice, "The statement"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "invoice_not_found"),
  },
});

invoices.openapi(one, async (c) => {
  const { period } = c.req.valid("param");
  const current = new Date().toISOString().slice(0, 7);
  if (period > current) {
    throw new ApiError("invoice_not_found", `${period} has not begun; the latest is ${current}.`);
  }
  return c.json(await c.var.account.invoice(period), 200);
});
