import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { ERRORS, type ErrorCode, PROBLEM_TYPE_BASE, type Problem } from "../../protocol/errors.ts";

/**
 * The one error type route code throws. It carries a registered code; `toProblemResponse` turns it
 * (and anything else thrown) into an RFC 9457 problem document.
 */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string = ERRORS[code].title,
    readonly extra: { errors?: Problem["errors"]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = "ApiError";
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Builds the problem document body for a code. */
export function problem(code: ErrorCode, detail: string, instance?: string): Problem {
  const { status, title } = ERRORS[code];
  return { type: `${PROBLEM_TYPE_BASE}${code}`, title, status, detail, code, instance };
}

/** A Zod failure as `validation_failed`, with one entry per offending field. */
export function validationError(error: ZodError, where: string): ApiError {
  const errors = error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const first = errors[0];
  const detail = first ? `${first.path}: ${first.message}` : `invalid ${where}`;
  return new ApiError("validation_failed", detail, { errors });
}

/**
 * Maps anything thrown while handling a request to a problem response. Unknown errors become a
 * bare 500 `internal` (logged with the request id, never echoed: no stack leaves the Worker).
 */
export function toProblemResponse(err: unknown, c: Context): Response {
  const requestId = c.get("requestId" as never) as string | undefined;
  let apiError: ApiError;
  if (err instanceof ApiError) {
    apiError = err;
  } else if (err instanceof HTTPException) {
    // Hono's own validators and body parsers throw these: map them by status.
    const byStatus: Partial<Record<number, ErrorCode>> = {
      400: "malformed_json",
      413: "payload_too_large",
      415: "unsupported_media_type",
    };
    const code = byStatus[err.status];
    if (!code) console.error(`request ${requestId ?? "?"}: unmapped HTTPException`, err);
    apiError = code ? new ApiError(code, err.message) : new ApiError("internal");
  } else {
    console.error(`request ${requestId ?? "?"} failed`, err);
    apiError = new ApiError("internal", "The server failed to handle this request.");
  }
  const body: Problem = {
    ...problem(apiError.code, apiError.detail, new URL(c.req.url).pathname),
    request_id: requestId,
    ...(apiError.extra.errors ? { errors: apiError.extra.errors } : {}),
  };
  const headers = new Headers(apiError.extra.headers);
  headers.set("content-type", PROBLEM_CONTENT_TYPE);
  for (const name of ["ratelimit", "ratelimit-policy", "x-request-id"]) {
    const v = c.res.headers.get(name);
    if (v && !headers.has(name)) headers.set(name, v);
  }
  if (requestId) headers.set("x-request-id", requestId);
  return new Response(JSON.stringify(body), { status: apiError.status, headers });
}
