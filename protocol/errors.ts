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

  // Metering and billing (usage, invoices, spend caps).
  spend_cap_exceeded: { status: 402, title: "This would pass a monthly spend cap" },
  invoice_not_found: { status: 404, title: "No statement for this period yet" },

  // Storage.
  storage_quota_exceeded: { status: 413, title: "Storage quota exceeded" },
  upload_not_found: { status: 404, title: "Upload not found" },
  invalid_car: { status: 400, title: "Body is not a complete, valid CARv1" },
  car_block_mismatch: { status: 400, title: "A CAR block's bytes do not match its CID" },
  invalid_path: { status: 400, title: "File path is not allowed" },
  directory_too_large: { status: 413, title: "Directory too large for a single node" },
  upload_session_not_found: { status: 404, title: "Upload session not found" },
  upload_session_closed: { status: 409, title: "Upload session is already completed or aborted" },
  upload_parts_missing: { status: 409, title: "Upload session has missing parts" },
  length_required: { status: 411, title: "Content-Length is required" },

  // Gateway.
  invalid_cid: { status: 400, title: "Malformed CID" },
  unsupported_cid: {
    status: 400,
    title: "CID uses a codec or hash function this gateway cannot serve or verify",
  },
  unsupported_format: { status: 400, title: "Unsupported response format" },
  not_acceptable: { status: 406, title: "No acceptable response type can be produced" },
  invalid_entity_bytes: { status: 400, title: "entity-bytes is malformed or outside the entity" },
  range_not_satisfiable: { status: 416, title: "Range not satisfiable" },
  service_worker_not_allowed: {
    status: 400,
    title: "Service workers may only be registered under a content root with a trailing slash",
  },
  content_not_found: { status: 404, title: "Content not found" },
  path_not_found: { status: 404, title: "Path not found in the DAG" },
  malformed_dag: { status: 400, title: "Content is not valid UnixFS" },
  block_corrupt: { status: 502, title: "A stored block failed verification against its CID" },

  // Jobs.
  job_too_large: { status: 400, title: "Job is too large to price" },
  price_exceeds_max: { status: 422, title: "Job costs more than its max_price" },
  job_not_found: { status: 404, title: "Job not found" },

  // Contributors.
  upgrade_required: { status: 426, title: "This endpoint speaks WebSocket" },
  pool_full: { status: 503, title: "This contributor pool takes no more connections now" },

  // Settlement on Solana (deposits, payouts, stake).
  billing_not_configured: {
    status: 503,
    title: "Solana settlement is not configured on this deployment",
  },
  deposit_not_found: { status: 404, title: "Deposit not found" },
  bad_signature: { status: 401, title: "The contributor's signature does not verify" },
  insufficient_stake: { status: 409, title: "Less stake is locked than asked for" },
  admin_not_configured: { status: 503, title: "No operator admin token is configured" },

  // Storage providers (issue 8).
  registration_expired: {
    status: 401,
    title: "The provider's signed registration is too old or from the future",
  },
  provider_not_found: { status: 404, title: "No storage provider has this address" },

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
