import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { Job, JobView } from "../../durable-objects/job/job.ts";
import { priceJob } from "../../durable-objects/job/pricing.ts";
import { sha256 } from "../../protocol/digest.ts";
import { base32, randomBase32 } from "../../protocol/ids.ts";
import { JobSpec, Quote } from "../../protocol/jobs.ts";
import { MicrosSchema } from "../../protocol/money.ts";
import { pageQuery } from "../../protocol/pagination.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { idempotencyKey, runIdempotent } from "../http/idempotency.ts";
import { jsonBody } from "../http/json.ts";
import {
  AUTHENTICATED_PROBLEMS,
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKeyHeader,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/jobs`: GPU jobs. Scope `jobs`. As built: price, create (escrow hold + `Job` object), read,
 * list and cancel; dispatch to contributors and settlement of earned work are the next step.
 */
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

const JobViewSchema = z
  .object({
    id: z.string(),
    account_id: z.string(),
    kind: z.enum(["render", "inference", "wgsl"]),
    status: z.enum(["queued", "running", "verifying", "completed", "failed", "cancelled"]),
    tasks: z.object({ total: z.number().int(), done: z.number().int() }),
    quote: Quote,
    cost: MicrosSchema,
    result_cid: z.string().nullable().openapi({ description: "The result, through /ipfs/{cid}" }),
    failure: z.string().nullable(),
    settlement: z
      .object({ charged: MicrosSchema, contributors: MicrosSchema, platform_fee: MicrosSchema })
      .nullable()
      .openapi({ description: "What settlement moved, once the job has ended" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Job");

const JobIdParam = z.object({
  id: z
    .string()
    .regex(/^job_[a-z2-7]{20}$/)
    .openapi({ param: { name: "id", in: "path" } }),
});

const createJob = createRoute({
  method: "post",
  path: "/v1/jobs",
  tags: ["Jobs"],
  summary: "Create a job",
  description:
    "Prices the job, holds the price in escrow on the account's balance and creates the job. No hold, no job: without the balance the answer is 402 `insufficient_funds`, past a monthly spend cap (the hold counts) 402 `spend_cap_exceeded`, and nothing is created or charged. With an Idempotency-Key a retry can never hold twice.",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs"), jsonBody] as const,
  request: { headers: IdempotencyKeyHeader, body: jsonRequest(JobSpec) },
  responses: {
    202: json(JobViewSchema, "Accepted: the job is queued"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      ...JSON_BODY_PROBLEMS,
      ...IDEMPOTENCY_PROBLEMS,
      "job_too_large",
      "price_exceeds_max",
      "insufficient_funds",
      "spend_cap_exceeded",
    ),
  },
});

jobs.openapi(createJob, async (c) => {
  const spec = c.req.valid("json");
  const key = idempotencyKey(c);
  const account = c.var.account;
  const accountId = c.var.principal.accountId;
  const response = await runIdempotent(c, account, key, async () => {
    const priced = priceJob(spec, config(c.env).prices);
    if (!priced.ok) throw new ApiError(priced.code, priced.detail);
    // With an Idempotency-Key the job id (and so the hold id) follows from it: a retry after a
    // crash finds the same hold (a no-op) and the same Job object.
    const id = key ? await jobIdFor(accountId, key) : `job_${randomBase32(20)}`;
    const hold = await account.hold(id, priced.quote.total, `job ${id}`, c.var.principal.keyId);
    if (!hold.ok) throw new ApiError(hold.code, hold.detail);
    const job = c.env.JOB.get(c.env.JOB.idFromName(id));
    const view = await job.create({
      id,
      accountId,
      spec,
      quote: priced.quote,
      holdId: id,
      leaseMs: config(c.env).leaseMs,
    });
    await account.recordJob(id, spec.kind);
    return c.json(view, 202);
  });
  return response as never;
});

const listJobs = createRoute({
  method: "get",
  path: "/v1/jobs",
  tags: ["Jobs"],
  summary: "List jobs, newest first",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs")] as const,
  request: {
    query: pageQuery(50),
  },
  responses: {
    200: json(
      z.object({ data: z.array(JobViewSchema), next_cursor: z.string().nullable() }),
      "A page of jobs",
    ),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed"),
  },
});

jobs.openapi(listJobs, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const page = await c.var.account.listJobs(limit, cursor ? Number(cursor) : undefined);
  const views = await Promise.all(
    page.ids.map((id) => c.env.JOB.get(c.env.JOB.idFromName(id)).view()),
  );
  const data = views.filter((v) => v !== undefined) as JobView[];
  return c.json({ data, next_cursor: page.next_cursor }, 200);
});

const getJob = createRoute({
  method: "get",
  path: "/v1/jobs/{id}",
  tags: ["Jobs"],
  summary: "A job's status, progress and cost so far",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs")] as const,
  request: { params: JobIdParam },
  responses: {
    200: json(JobViewSchema, "The job"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "job_not_found"),
  },
});

jobs.openapi(getJob, async (c) => {
  const { id } = c.req.valid("param");
  return c.json(await ownedJob(c.var.account, c.env, id, (job) => job.view()), 200);
});

const cancelJob = createRoute({
  method: "post",
  path: "/v1/jobs/{id}/cancel",
  tags: ["Jobs"],
  summary: "Cancel a job",
  description:
    "Stops the job and releases everything it has not earned back to the available balance. Cancelling a finished or cancelled job changes nothing.",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs")] as const,
  request: { params: JobIdParam },
  responses: {
    200: json(JobViewSchema, "The job after cancellation"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "job_not_found"),
  },
});

jobs.openapi(cancelJob, async (c) => {
  const { id } = c.req.valid("param");
  return c.json(await ownedJob(c.var.account, c.env, id, (job) => job.cancel()), 200);
});

const jobEvents = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/events",
  tags: ["Jobs"],
  summary: "Follow a job (Server-Sent Events)",
  description:
    "A `text/event-stream` of the job's events: `status` (queued, running, verifying, and the end: completed, failed or cancelled with the settlement) and `progress` (tasks done, cost so far). Each event's `id` is its sequence number; reconnect with `Last-Event-ID` (or `?after=`) to resume without gaps or repeats. The stream ends after the job's final status event.",
  security: SECURITY,
  middleware: [authenticate, requireScope("jobs")] as const,
  request: {
    params: JobIdParam,
    query: z.object({ after: z.coerce.number().int().min(0).optional() }),
    headers: z.object({
      "last-event-id": z
        .string()
        .regex(/^\d{1,15}$/)
        .optional(),
    }),
  },
  responses: {
    200: {
      description: "The event stream",
      content: { "text/event-stream": { schema: z.string() } },
    },
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "job_not_found"),
  },
});

/** How often an open event stream asks the job for news, and sends a keep-alive comment. */
const EVENT_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;
const FINAL = new Set(["completed", "failed", "cancelled"]);

jobs.openapi(jobEvents, async (c) => {
  const { id } = c.req.valid("param");
  const header = c.req.valid("header")["last-event-id"];
  let after = header !== undefined ? Number(header) : (c.req.valid("query").after ?? 0);
  await ownedJob(c.var.account, c.env, id, (job) => job.view());
  const job = c.env.JOB.get(c.env.JOB.idFromName(id));
  return streamSSE(c, async (stream) => {
    let quietSince = Date.now();
    while (!stream.aborted) {
      const events = await job.events(after);
      for (const e of events) {
        await stream.writeSSE({ id: String(e.id), event: e.type, data: e.data });
        after = e.id;
        const status =
          e.type === "status" ? (JSON.parse(e.data) as { status: string }).status : null;
        if (e.type === "status" && status && FINAL.has(status)) return;
      }
      if (events.length > 0) quietSince = Date.now();
      else if (Date.now() - quietSince >= KEEPALIVE_MS) {
        await stream.write(": keep-alive\n\n");
        quietSince = Date.now();
      }
      if (events.length < 100) await stream.sleep(EVENT_POLL_MS);
    }
  }) as never;
});

/** Runs `act` on a job of the caller's account; any other job is a 404, never a 403. */
async function ownedJob(
  account: AppEnv["Variables"]["account"],
  env: AppEnv["Bindings"],
  id: string,
  act: (job: DurableObjectStub<Job>) => Promise<JobView | undefined>,
): Promise<JobView> {
  const notFound = new ApiError("job_not_found", `This account has no job ${id}.`);
  if (!(await account.hasJob(id))) throw notFound;
  const view = await act(env.JOB.get(env.JOB.idFromName(id)));
  if (!view) throw notFound;
  return view;
}

async function jobIdFor(accountId: string, idempotencyKey: string): Promise<string> {
  return `job_${base32(await sha256(`tessera job\n${accountId}\n${idempotencyKey}`)).slice(0, 20)}`;
}
