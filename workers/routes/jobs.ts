import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { priceJob } from "../../durable-objects/job/pricing.ts";
import { JobSpec, Quote } from "../../protocol/jobs.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { jsonBody } from "../http/json.ts";
import {
  AUTHENTICATED_PROBLEMS,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/** `/v1/jobs`: GPU jobs. Scope `jobs`. As built: pricing; running jobs arrives with `Job`. */
export const jobs = new OpenAPIHono<AppEnv>();

const quoteRoute = createRoute({
  method: "post",
  path: "/v1/jobs/quote",
  tags: ["Jobs"],
  summary: "Price a job",
  description:
    "Prices a job spec without creating it: work units (docs/kernels.md) × unit price × replication, plus the platform fee, all in USDC base units. A job with `max_price` below its price is refused with `price_exceeds_max`.",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs"), jsonBody] as const,
  request: { body: jsonRequest(JobSpec) },
  responses: {
    200: json(Quote, "The price and its breakdown"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      ...JSON_BODY_PROBLEMS,
      "job_too_large",
      "price_exceeds_max",
    ),
  },
});

jobs.openapi(quoteRoute, async (c) => {
  const priced = priceJob(c.req.valid("json"), config(c.env).prices);
  if (!priced.ok) throw new ApiError(priced.code, priced.detail);
  return c.json(priced.quote, 200);
});
