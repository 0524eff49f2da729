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
