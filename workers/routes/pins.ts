import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { PinRow } from "../../durable-objects/account/pins.ts";
import { classifyOrigin } from "../../durable-objects/pin/origins.ts";
import { sha256 } from "../../protocol/digest.ts";
import { base32, randomBase32 } from "../../protocol/ids.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { jsonBody } from "../http/json.ts";
import { SECURITY } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";
import { newUploadId } from "../storage/ids.ts";
import {
  FailureSchema,
  ListPinsQuery,
  PinResultsSchema,
  PinSchema,
  type PinStatus,
  PinStatusSchema,
  RequestIdParam,
} from "./pins-schema.ts";

/**
 * The IPFS Pinning Service API v1.0.0 (ipfs/pinning-services-api-spec) under `/pinning`, so
 * `ipfs pin remote service add tessera https://<host>/pinning <api key>` works: Kubo appends
 * `/pins`. Bearer auth with Tessera API keys (scope `storage`). Unlike the rest of the API,
 * errors here leave in the spec's shape, `{"error": {"reason", "details"}}`, with its status
 * codes (400 bad request, 401 unauthorized, 404 not found, 409 insufficient funds).
 */
export const pins = new OpenAPIHono<AppEnv>({
  defaultHook: (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue ? [result.target, ...issue.path.map(String)].join(".") : result.target;
      throw new PinApiError(400, "BAD_REQUEST", `${where}: ${issue?.message ?? "invalid"}`);
    }
  },
});

/** An error in the spec's shape. */
class PinApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500,
    readonly reason: string,
    readonly details: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(details);
  }
}

/** Maps what the shared middleware throws (problem codes) to the spec's reasons. */
const REASONS: Partial<Record<string, [PinApiError["status"], string]>> = {
  unauthenticated: [401, "UNAUTHORIZED"],
  insufficient_scope: [403, "FORBIDDEN"],
  rate_limited: [429, "RATE_LIMITED"],
  validation_failed: [400, "BAD_REQUEST"],
  malformed_json: [400, "BAD_REQUEST"],
  unsupported_media_type: [415, "UNSUPPORTED_MEDIA_TYPE"],
  payload_too_large: [413, "PAYLOAD_TOO_LARGE"],
  spend_cap_exceeded: [409, "INSUFFICIENT_FUNDS"],
  insufficient_funds: [409, "INSUFFICIENT_FUNDS"],
};

pins.onError((err, c: Context<AppEnv>) => {
  let e: PinApiError;
  if (err instanceof PinApiError) e = err;
  else if (err instanceof ApiError) {
    const [status, reason] = REASONS[err.code] ?? [500, "INTERNAL_SERVER_ERROR"];
    e = new PinApiError(status, reason, err.detail, err.extra.headers);
  } else if (err instanceof HTTPException && err.status === 400) {
    e = new PinApiError(400, "BAD_REQUEST", "The body is not valid JSON.");
  } else {
    console.error(`request ${c.get("requestId") ?? "?"} failed`, err);
    e = new PinApiError(500, "INTERNAL_SERVER_ERROR", "The server failed to handle this request.");
  }
  const headers = new Headers(e.headers);
  for (const name of ["ratelimit", "ratelimit-policy"]) {
    const v = c.res.headers.get(name);
    if (v && !headers.has(name)) headers.set(name, v);
  }
  return c.json(
    { error: { reason: e.reason, details: e.details } },
    e.status,
    Object.fromEntries(headers),
  );
});

const REQUEST_ID = /^pin_[a-z2-7]{20}$/;
const notFound = () =>
  new PinApiError(404, "NOT_FOUND", "No pin with this request id exists for this access token.");

const failures = {
  400: { description: "Bad request", content: { "application/json": { schema: FailureSchema } } },
  401: { description: "Unauthorized", content: { "application/json": { schema: FailureSchema } } },
  404: { description: "Not found", content: { "application/json": { schema: FailureSchema } } },
  409: {
    description: "Insufficient funds",
    content: { "application/json": { schema: FailureSchema } },
  },
};
const middleware = [authenticate, requireScope("storage")];
const tags = ["Pinning Service API"];

/** The spec's `PinStatus` from the account's index row. */
function toStatus(row: PinRow, delegates: string[]): PinStatus {
  const origins = JSON.parse(row.origins) as string[];
  return {
    requestid: row.requestid,
    status: row.status,
    created: new Date(row.created_at).toISOString(),
    pin: {
      cid: row.cid,
      ...(row.name !== null ? { name: row.name } : {}),
      origins,
      meta: JSON.parse(row.meta) as Record<string, string>,
    },
    delegates,
    info: JSON.parse(row.info) as Record<string, string>,
  };
}

/**
 * Multiaddrs of this service (`PIN_DELEGATES`), or one derived from the request's origin: a
 * stable answer for a deployment, where clients may connect to fetch or send data.
 */
function delegates(c: Context<AppEnv>): string[] {
  const configured = config(c.env).pins.delegates;
  if (configured.length > 0) return configured;
  const url = new URL(c.req.url);
  const https = url.protocol === "https:";
  const port = url.port || (https ? "443" : "80");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const proto = /^\d+(\.\d+){3}$/.test(host) ? "ip4" : host.includes(":") ? "ip6" : "dns";
  return [`/${proto}/${host}/tcp/${port}/${https ? "https" : "http"}`];
}

function pinStub(c: Context<AppEnv>, requestid: string) {
  return c.env.PIN.get(c.env.PIN.idFromName(requestid));
}

/** Creates a pin (the Pin object does the work in its alarm) and answers its status. */
async function createPin(c: Context<AppEnv>, pin: ReturnType<typeof PinSchema.parse>) {
  const settings = config(c.env);
  for (const origin of pin.origins ?? []) {
    const verdict = classifyOrigin(origin, settings.pins.allowLoopbackOrigins);
    if (verdict.kind === "refused") throw new PinApiError(400, "BAD_REQUEST", verdict.reason);
  }
  const { accountId, keyId } = c.var.principal;
  const refused = await c.var.account.checkUploadSpend(keyId, 0);
  if (refused) throw new PinApiError(409, "INSUFFICIENT_FUNDS", refused.detail);
  // With an Idempotency-Key the request id is derived from it: a retry finds the same pin.
  const key = c.req.header("idempotency-key");
  const requestid = key
    ? `pin_${base32(await sha256(`tessera pin\n${accountId}\n${key}`)).slice(0, 20)}`
    : `pin_${randomBase32(20)}`;
  const row = await pinStub(c, requestid).create(
    {
      requestid,
      account: accountId,
      keyId,
      cid: pin.cid,
      name: pin.name ?? null,
      origins: pin.origins ?? [],
      meta: pin.meta ?? {},
    },
    newUploadId(),
  );
  return toStatus(row, delegates(c));
}

const listPins = createRoute({
  method: "get",
  path: "/pinning/pins",
  tags,
  summary: "List pin objects (Pinning Service API)",
  description:
    "Pins of this account matching the filters, newest first; without `status` only `pinned` ones (spec). `count` is the number matching, `results` at most `limit`.",
  security: SECURITY,
  middleware,
  request: { query: ListPinsQuery },
  responses: {
    200: {
      description: "PinResults",
      content: { "application/json": { schema: PinResultsSchema } },
    },
    ...failures,
  },
});

pins.openapi(listPins, async (c) => {
  const q = c.req.valid("query");
  const { count, rows } = await c.var.account.listPins({
    cids: q.cid,
    name: q.name,
    match: q.match,
    statuses: q.status ?? ["pinned"],
    before: q.before ? Date.parse(q.before) : undefined,
    after: q.after ? Date.parse(q.after) : undefined,
    limit: q.limit,
    meta: q.meta,
  });
  const d = delegates(c);
  return c.json({ count, results: rows.map((r) => toStatus(r, d)) }, 200);
});

const addPin = createRoute({
  method: "post",
  path: "/pinning/pins",
  tags,
  summary: "Add pin object (Pinning Service API)",
  description:
    "Pins `cid` recursively. Content this account already stores is pinned at once; otherwise blocks are fetched from the pin's `origins` (http(s) gateway URLs or multiaddrs ending in /http or /https) and the configured upstream gateways, each verified against its CID, within `PIN_FETCH_TIMEOUT_SECONDS`. Origins in loopback, link-local or private ranges are refused. Accepts an `Idempotency-Key` header: a retry with the same key answers the same pin.",
  security: SECURITY,
  middleware: [...middleware, jsonBody],
  request: {
    body: { required: true, content: { "application/json": { schema: PinSchema } } },
  },
  responses: {
    202: { description: "PinStatus", content: { "application/json": { schema: PinStatusSchema } } },
    ...failures,
  },
});

pins.openapi(addPin, async (c) => c.json(await createPin(c, c.req.valid("json")), 202));

const getPin = createRoute({
  method: "get",
  path: "/pinning/pins/{requestid}",
  tags,
  summary: "Get pin object (Pinning Service API)",
  security: SECURITY,
  middleware,
  request: { params: RequestIdParam },
  responses: {
    200: { description: "PinStatus", content: { "application/json": { schema: PinStatusSchema } } },
    ...failures,
  },
});

pins.openapi(getPin, async (c) => {
  const { requestid } = c.req.valid("param");
  if (!REQUEST_ID.test(requestid)) throw notFound();
  const row = await pinStub(c, requestid).view(c.var.principal.accountId);
  if (!row) throw notFound();
  return c.json(toStatus(row, delegates(c)), 200);
});

const replacePin = createRoute({
  method: "post",
  path: "/pinning/pins/{requestid}",
  tags,
  summary: "Replace pin object (Pinning Service API)",
  description:
    "Adds the new pin, then removes the old one: blocks both share are never let go in between. Answers the new pin (a new request id).",
  security: SECURITY,
  middleware: [...middleware, jsonBody],
  request: {
    params: RequestIdParam,
    body: { required: true, content: { "application/json": { schema: PinSchema } } },
  },
  responses: {
    202: { description: "PinStatus", content: { "application/json": { schema: PinStatusSchema } } },
    ...failures,
  },
});

pins.openapi(replacePin, async (c) => {
  const { requestid } = c.req.valid("param");
  if (!REQUEST_ID.test(requestid)) throw notFound();
  const old = pinStub(c, requestid);
  if (!(await old.view(c.var.principal.accountId))) throw notFound();
  const created = await createPin(c, c.req.valid("json"));
  await old.remove(c.var.principal.accountId);
  return c.json(created, 202);
});

const deletePin = createRoute({
  method: "delete",
  path: "/pinning/pins/{requestid}",
  tags,
  summary: "Remove pin object (Pinning Service API)",
  description:
    "Unpins: replicas are released, and content the pin fetched is removed (its storage charge ends) once no other pin of this account names it. Uploads the account made itself stay.",
  security: SECURITY,
  middleware,
  request: { params: RequestIdParam },
  responses: { 202: { description: "Removed" }, ...failures },
});

pins.openapi(deletePin, async (c) => {
  const { requestid } = c.req.valid("param");
  if (!REQUEST_ID.test(requestid)) throw notFound();
  if (!(await pinStub(c, requestid).remove(c.var.principal.accountId))) throw notFound();
  return c.body(null, 202);
});
