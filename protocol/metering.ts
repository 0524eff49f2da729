import { z } from "@hono/zod-openapi";
import { MicrosSchema } from "./money.ts";

/**
 * API bodies of metering and billing (issue 7): `/v1/usage`, `/v1/invoices`, spend caps and the
 * account's billing status. Money in USDC base units. (Deposits and payouts: `billing.ts`.)
 */

/** As `KeyIdSchema` in accounts.ts (not imported: accounts.ts imports this module). */
const KeyIdSchema = z.string().regex(/^key_[a-z2-7]{20}$/);

export const METERS = ["storage", "egress", "compute"] as const;
export type UsageMeter = (typeof METERS)[number];

/** Each meter's unit in `/v1/usage`. */
export const USAGE_UNITS = {
  storage: "byte-hour",
  egress: "byte",
  compute: "USDC base unit",
} as const satisfies Record<UsageMeter, string>;

const instant = z.iso
  .datetime({ offset: true })
  .transform((s) => Date.parse(s))
  .openapi({ type: "string", format: "date-time" });

export const UsageQuery = z.object({
  meter: z.enum(METERS).openapi({
    description:
      "`storage`: byte-hours held; `egress`: bytes served by the gateway; `compute`: base units captured when jobs settled",
  }),
  from: instant.optional().openapi({
    description: "Start (inclusive), rounded down to the window; default: 24 windows back",
  }),
  to: instant.optional().openapi({ description: "End (exclusive), rounded up; default: now" }),
  window: z.enum(["hour", "day"]).default("hour"),
  key_id: KeyIdSchema.optional().openapi({ description: "Only usage this API key caused" }),
});

export const UsageReport = z
  .object({
    meter: z.enum(METERS),
    unit: z.string(),
    window: z.enum(["hour", "day"]),
    key_id: z.string().nullable(),
    from: z.string().openapi({ format: "date-time" }),
    to: z.string().openapi({ format: "date-time" }),
    data: z.array(
      z.object({
        start: z.string().openapi({ format: "date-time" }),
        end: z.string().openapi({ format: "date-time" }),
        quantity: z.number(),
      }),
    ),
    total: z.number(),
  })
  .openapi("UsageReport");
export type UsageReport = z.infer<typeof UsageReport>;

export const InvoiceLine = z
  .object({
    meter: z.enum([...METERS, "other"]),
    description: z.string(),
    quantity: z.number(),
    unit: z.string(),
    unit_price: MicrosSchema.openapi({ description: "Base units per unit" }),
    amount: MicrosSchema,
    period: z.object({
      start: z.string().openapi({ format: "date-time" }),
      end: z.string().openapi({ format: "date-time" }),
    }),
  })
  .openapi("InvoiceLine");

export const InvoiceCredit = z
  .object({
    op_id: z.string(),
    description: z.string().nullable(),
    amount: MicrosSchema,
    at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("InvoiceCredit");

export const PeriodSchema = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/)
  .openapi({ example: "2026-11", description: "A calendar month, UTC" });

export const Invoice = z
  .object({
    period: PeriodSchema,
    status: z.enum(["open", "closed"]).openapi({ description: "`open` while the month runs" }),
    currency: z.literal("USDC"),
    decimals: z.literal(6),
    lines: z.array(InvoiceLine),
    total: MicrosSchema.openapi({ description: "Σ lines: the journal's debits and captures" }),
    credits: z.array(InvoiceCredit),
    credits_total: MicrosSchema,
  })
  .openapi("Invoice");
export type Invoice = z.infer<typeof Invoice>;

export const InvoiceSummary = Invoice.pick({
  period: true,
  status: true,
  total: true,
  credits_total: true,
}).openapi("InvoiceSummary");
export type InvoiceSummary = z.infer<typeof InvoiceSummary>;

export const SpendCapBody = z
  .object({
    monthly_limit: MicrosSchema.nullable().openapi({
      description: "Base units per calendar month (UTC); `null` removes the cap",
    }),
  })
  .strict()
  .openapi("SpendCapBody");

export const SpendCap = z
  .object({
    scope: z.string().openapi({ description: "`account` or a key id" }),
    period: PeriodSchema,
    monthly_limit: MicrosSchema.nullable(),
    spent: MicrosSchema.openapi({
      description: "Charged this month, owed, and reserved by open holds",
    }),
  })
  .openapi("SpendCap");
export type SpendCap = z.infer<typeof SpendCap>;

export const BillingStatus = z
  .object({
    low_balance: z.boolean().openapi({
      description: "The available balance is below the threshold, or usage is owed",
    }),
    low_balance_threshold: MicrosSchema,
    owed: MicrosSchema.openapi({
      description: "Usage charged but not yet debited: the balance fell short",
    }),
    stored_bytes: z.number().int(),
    storage_cost_per_day: MicrosSchema,
    runway_days: z.number().nullable().openapi({
      description:
        "Days the available balance pays for the current storage; null when nothing is stored",
    }),
    grace_until: z.string().nullable().openapi({
      format: "date-time",
      description:
        "Set while the balance cannot pay for stored data: at this time every upload is released unless a deposit or credit pays what is owed",
    }),
    released: z
      .object({ at: z.string().openapi({ format: "date-time" }), uploads: z.number().int() })
      .nullable()
      .openapi({ description: "The last time uploads were released after a grace period" }),
  })
  .openapi("BillingStatus");
export type BillingStatus = z.infer<typeof BillingStatus>;
