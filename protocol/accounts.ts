import { z } from "@hono/zod-openapi";
import { BillingStatus } from "./metering.ts";
import { MicrosSchema } from "./money.ts";

/** What an API key may do. `admin` manages keys; each area checks its own scope. */
export const SCOPES = ["jobs", "storage", "billing", "admin"] as const;
export type Scope = (typeof SCOPES)[number];
export const ScopeSchema = z.enum(SCOPES).openapi("Scope");

export const AccountIdSchema = z
  .string()
  .regex(/^acct_[a-z2-7]{20}$/)
  .openapi({ example: "acct_abcdefghijklmnopqrst" });
export const KeyIdSchema = z
  .string()
  .regex(/^key_[a-z2-7]{20}$/)
  .openapi({ example: "key_abcdefghijklmnopqrst" });

export const CreateAccountBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    email: z.email().max(320).optional(),
  })
  .strict()
  .openapi("CreateAccountBody");

export const ApiKeyInfo = z
  .object({
    id: KeyIdSchema,
    prefix: z
      .string()
      .openapi({ description: "The non-secret start of the key, for recognising it" }),
    name: z.string().nullable(),
    scopes: z.array(ScopeSchema),
    created_at: z.string().openapi({ format: "date-time" }),
    revoked_at: z.string().nullable().openapi({ format: "date-time" }),
    last_used_at: z.string().nullable().openapi({ format: "date-time" }),
  })
  .openapi("ApiKey");
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

export const CreatedApiKey = ApiKeyInfo.extend({
  api_key: z.string().openapi({ description: "The secret key. Shown once; store it now." }),
}).openapi("CreatedApiKey");

export const CreateAccountResponse = z
  .object({
    account_id: AccountIdSchema,
    api_key: z.string().openapi({ description: "A key with every scope. Shown once." }),
    key: ApiKeyInfo,
  })
  .openapi("CreatedAccount");

export const Balance = z
  .object({
    currency: z.literal("USDC"),
    decimals: z.literal(6),
    available: MicrosSchema,
    held: MicrosSchema,
  })
  .openapi("Balance", { description: "Amounts in USDC base units (1e-6 USDC)" });
export type Balance = z.infer<typeof Balance>;

export const AccountView = z
  .object({
    account_id: AccountIdSchema,
    name: z.string().nullable(),
    email: z.string().nullable(),
    created_at: z.string().openapi({ format: "date-time" }),
    balance: Balance,
    billing: BillingStatus,
  })
  .openapi("Account");
export type AccountView = z.infer<typeof AccountView>;

export const CreateKeyBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    scopes: z.array(ScopeSchema).min(1).max(SCOPES.length),
  })
  .strict()
  .openapi("CreateKeyBody");
