import { OpenAPIHono } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { ApiError, toProblemResponse, validationError } from "./http/problem.ts";
import type { AppEnv } from "./http/types.ts";
import { accounts } from "./routes/accounts.ts";
import { admin } from "./routes/admin.ts";
import { billing } from "./routes/billing.ts";
import { contribute } from "./routes/contribute.ts";
import { contributors } from "./routes/contributors.ts";
import { gateway } from "./routes/gateway.ts";
import { invoices } from "./routes/invoices.ts";
import { jobs } from "./routes/jobs.ts";
import { keys } from "./routes/keys.ts";
import { meta } from "./routes/meta.ts";
import { pins } from "./routes/pins.ts";
import { prices } from "./routes/prices.ts";
import { providers } from "./routes/providers.ts";
import { spendCaps } from "./routes/spend-caps.ts";
import { uploadSessions } from "./routes/upload-sessions.ts";
import { uploads } from "./routes/uploads.ts";
import { usage } from "./routes/usage.ts";

/**
 * The Tessera API: one Hono app, areas mounted from their route modules. Every input is parsed
 * by the route's Zod schema (failures become `validation_failed` problems), every error leaves as
 * `application/problem+json`, and `/openapi.json` is generated from the same schemas.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });

  app.use("*", requestId({ headerName: "x-request-id" }));
  app.use(
    "*",
    cors({
      origin: "*",
      allowHeaders: ["authorization", "content-type", "idempotency-key", "range", "if-none-match"],
      allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
      exposeHeaders: [
        "x-request-id",
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "idempotent-replayed",
        "etag",
        "content-range",
        "content-length",
        "x-ipfs-path",
        "x-ipfs-roots",
        "content-location",
      ],
      maxAge: 86400,
    }),
  );

  app.route("/", meta);
  app.route("/", accounts);
  app.route("/", keys);
  app.route("/", gateway);
  app.route("/", uploadSessions);
  app.route("/", uploads);
  app.route("/", jobs);
  app.route("/", contribute);
  app.route("/", contributors);
  app.route("/", prices);
  app.route("/", providers);
  app.route("/", billing);
  app.route("/", admin);
  app.route("/", usage);
  app.route("/", invoices);
  app.route("/", spendCaps);
  app.route("/", pins);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key from `POST /v1/accounts` or `POST /v1/keys`.",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Tessera API",
      version: "0.1.0",
      description:
        "GPU compute and content-addressed storage, paid per use in USDC. Amounts are integers in USDC base units (1e-6 USDC). Errors are RFC 9457 problem documents with a stable `code`.",
    },
    servers: [{ url: "/" }],
  });

  // Anything the API does not route is a static asset (the contributor page) or a 404 problem.
  app.all("*", async (c) => {
    if (!c.req.path.startsWith("/v1/") && (c.req.method === "GET" || c.req.method === "HEAD")) {
      const asset = await c.env.ASSETS.fetch(c.req.raw);
      if (asset.status !== 404) return asset;
    }
    throw new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}.`);
  });

  app.onError(toProblemResponse);
  return app;
}
