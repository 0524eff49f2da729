/**
 * The registry of error codes every Tessera API error carries in its problem document's `code`.
 *
 * Codes are stable public API: clients switch on them, so a code is never renamed or reused for a
 * different meaning. Add new codes at the end of their group. Each entry fixes the HTTP status and
 * the RFC 9457 `title`; the `detail` of a given occurrence is written where the error is raised.
 */
export const ERRORS = {
  // Requests the server could not parse or will not accept as sent.
  malformed_json: { status: 400, title: "Request body is not valid JSON" },
  validation_failed: { status: 400, title: "Request failed validation" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  payload_too_large: { status: 413, title: "Request body too large" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },

  // Who is calling.
  unauthenticated: { status: 401, title: "Missing or invalid API key" },
  insufficient_scope: { status: 403, title: "API key lacks the required scope" },
  signup_closed: { status: 403, title: "Open signup is disabled" },
  rate_limited: { status: 429, title: "Too many requests" },

  // Retries (Idempotency-Key, draft-ietf-httpapi-idempotency-key-header).
  idempotency_key_invalid: { status: 400, title: "Idempotency-Key header is malformed" },
  idempotency_key_reused: {
    status: 422,
    title: "Idempotency-Key was already used with a different request",
  },
  idempotency_key_in_flight: {
    status: 409,
    title: "A request with this Idempotency-Key is still being processed",
  },

  // Money.
  insufficient_funds: { status: 402, title: "Insufficient available balance" },
  hold_not_found: { status: 404, title: "Hold not found" },
  hold_closed: { status: 409, title: "Hold is already released" },
  capture_exceeds_hold: { status: 409, title: "Capture exceeds the remaining hold" },
  operation_id_reused: {
    status: 409,
    title: "Operation id was already used for a different operation",
  },

  // Keys.
  key_not_found: { status: 404, title: "API key not found" },

  // Everything we did not foresee. Never carries internals.
  internal: { status: 500, title: "Internal server error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The base of every problem `type` URI: `${PROBLEM_TYPE_BASE}${code}`. */
export const PROBLEM_TYPE_BASE = "https://tessera.dev/problems/";

/** An RFC 9457 problem document as Tessera sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  request_id?: string;
  /** Field-level reasons for `validation_failed`. */
  errors?: { path: string; message: string }[];
}
