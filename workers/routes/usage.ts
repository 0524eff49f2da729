import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { MAX_WINDOWS } from "../../durable-objects/account/usage.ts";
import { UsageQuery, UsageReport } from "../../protocol/metering.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { AUTHENTICATED_PROBLEMS, json, problemResponses, SECURITY } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `GET /v1/usage`: the account's metered usage of one meter in hourly or daily windows (UTC),
 * for the whole account or one of its keys. Scope `billing`.
 */
export const usage = new OpenAPIHono<AppEnv>();

const WINDOW_MS = { hour: 3_600_000, day: 86_400_000 } as const;

const route = createRoute({
  method: "get",
  path: "/v1/usage",
  tags: ["Billing"],
  summary: "Usage per meter and window",
  description:
    "Sums the account's usage events (each recorded once, by id) per window: `storage` in byte-hours held (bytes × time, per key that stored them), `egress` in bytes the gateway served to requests carrying one of the account's keys, `compute` in base units captured when jobs settled. `from` is rounded down and `to` up to whole windows; at most 744 hourly or 366 daily windows per request. With `key_id`, only what that key caused.",
  security: SECURITY,
  middleware: [authenticate, requireScope("billing")] as const,
  request: { query: UsageQuery },
  responses: {
    200: json(UsageReport, "Usage per window"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "key_not_found"),
  },
});

usage.openapi(route, async (c) => {
  const q = c.req.valid("query");
  const size = WINDOW_MS[q.window];
  const to = q.to ?? Date.now();
  const from = q.from ?? Math.ceil(to / size) * size - 24 * size;
  const windows = Math.ceil(to / size) - Math.floor(from / size);
  if (!(from < to)) throw new ApiError("validation_failed", "`from` must be before `to`.");
  if (windows > MAX_WINDOWS[q.window]) {
    throw new ApiError(
      "validation_failed",
      `At most ${MAX_WINDOWS[q.window]} ${q.window} windows per request; this asks for ${windows}.`,
    );
  }
  const account = c.var.account;
  if (q.key_id && !(await account.listKeys()).some((k) => k.id === q.key_id)) {
    throw new ApiError("key_not_found", `No key ${q.key_id} in this account.`);
  }
  const report = await account.usage({
    meter: q.meter,
    from,
    to,
    window: q.window,
    keyId: q.key_id,
    now: Date.now(),
  });
  return c.json(report, 200);
});
