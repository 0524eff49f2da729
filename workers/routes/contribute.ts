import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { POOLS } from "../../protocol/contributor.ts";
import { problemResponses } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `GET /v1/contribute`: the contributor WebSocket (docs/protocol.md). No API key: contributors
 * prove an ed25519 key in the handshake instead. Each pool's sockets live in its `Dispatcher`.
 */
export const contribute = new OpenAPIHono<AppEnv>();

const route = createRoute({
  method: "get",
  path: "/v1/contribute",
  tags: ["Contributors"],
  summary: "Contributor WebSocket",
  description:
    "Upgrade to a WebSocket speaking the contributor protocol (docs/protocol.md): the server sends a challenge, the contributor signs it with its Solana key.",
  request: {
    query: z.object({ pool: z.enum(POOLS).default("browser") }),
    headers: z.object({ upgrade: z.string().optional() }),
  },
  responses: {
    101: { description: "Switching to the contributor protocol" },
    ...problemResponses("upgrade_required", "validation_failed", "pool_full"),
  },
});

contribute.openapi(route, async (c) => {
  const { pool } = c.req.valid("query");
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError("upgrade_required", "Connect with a WebSocket (Upgrade: websocket).", {
      headers: { upgrade: "websocket" },
    });
  }
  const dispatcher = c.env.DISPATCHER.get(c.env.DISPATCHER.idFromName(pool));
  const res = await dispatcher.fetch(c.req.raw);
  if (res.status !== 101) {
    throw new ApiError("pool_full", `The ${pool} pool is full; retry later.`, {
      headers: { "retry-after": res.headers.get("retry-after") ?? "30" },
    });
  }
  return res as never;
});
