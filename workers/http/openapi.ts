import { z } from "@hono/zod-openapi";
import { ERRORS, type ErrorCode } from "../../protocol/errors.ts";
import { PROBLEM_CONTENT_TYPE } from "./problem.ts";

/** The problem document (RFC 9457) as it appears in `/openapi.json`. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ format: "uri" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

/** OpenAPI `responses` entries for the problems a route can answer with, grouped by status. */
export function problemResponses(...codes: ErrorCode[]) {
  const byStatus: Record<number, ErrorCode[]> = {};
  for (const code of codes) {
    const status = ERRORS[code].status;
    byStatus[status] = [...(byStatus[status] ?? []), code];
  }
  return Object.fromEntries(
    Object.entries(byStatus).map(([status, group]) => [
      status,
      {
        description: group.map((c) => `\`${c}\`: ${ERRORS[c].title}`).join("; "),
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
      },
    ]),
  );
}

/** Problems every authenticated route can answer with. */
export const AUTHENTICATED_PROBLEMS: ErrorCode[] = [
  "unauthenticated",
  "insufficient_scope",
  "rate_limited",
];

/** Problems every route that takes a JSON body can answer with. */
export const JSON_BODY_PROBLEMS: ErrorCode[] = [
  "malformed_json",
  "validation_failed",
  "unsupported_media_type",
  "payload_too_large",
];

export const IDEMPOTENCY_PROBLEMS: ErrorCode[] = [
  "idempotency_key_invalid",
  "idempotency_key_reused",
  "idempotency_key_in_flight",
];

export const IdempotencyKeyHeader = z.object({
  "idempotency-key": z.string().optional().openapi({
    description:
      "Makes the request safe to retry: the same key with the same body returns the first response.",
    example: "7c1f5a9e-3c0b-4d8e-9a57-0f4c2c0d9b11",
  }),
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const jsonRequest = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const SECURITY = [{ bearer: [] }];
