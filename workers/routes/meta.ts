import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { json } from "../http/openapi.ts";
import type { AppEnv } from "../http/types.ts";

/** Liveness and the API's own description. */
export const meta = new OpenAPIHono<AppEnv>();

const health = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["Meta"],
  summary: "Liveness",
  responses: {
    200: json(z.object({ status: z.literal("ok"), service: z.literal("tessera") }), "Serving"),
  },
});

meta.openapi(health, (c) => c.json({ status: "ok" as const, service: "tessera" as const }, 200));

/** The API reference UI (Scalar), reading `/openapi.json`. */
meta.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Tessera API" }));

// These two are served by Hono and Scalar directly; they are listed so the document names every route.
meta.openAPIRegistry.registerPath({
  method: "get",
  path: "/docs",
  tags: ["Meta"],
  summary: "API reference (HTML)",
  responses: {
    200: { description: "The reference UI", content: { "text/html": { schema: z.string() } } },
  },
});
meta.openAPIRegistry.registerPath({
  method: "get",
  path: "/openapi.json",
  tags: ["Meta"],
  summary: "This OpenAPI 3.1 document",
  responses: {
    200: {
      description: "The document",
      content: { "application/json": { schema: z.object({}).passthrough() } },
    },
  },
});
