import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { publicKeyOf } from "../../durable-objects/dispatcher/handshake.ts";
import { SolanaAddress } from "../../protocol/contributor.ts";
import { MicrosSchema } from "../../protocol/money.ts";
import {
  HEARTBEAT_SECONDS,
  ProviderRegistered,
  ProviderRegistration,
  registrationMessage,
} from "../../protocol/providers.ts";
import { jsonBody } from "../http/json.ts";
import { JSON_BODY_PROBLEMS, json, jsonRequest, problemResponses } from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";

/**
 * `/v1/providers`: storage providers register here (docs/protocol.md, "Storage providers"),
 * signed by their ed25519 key like a contributor's handshake; registering again is the heartbeat.
 * `GET /v1/providers/{address}` is public like a contributor's record: space, and pay for proven
 * periods (what they earned, and what metered revenue covered).
 */
export const providers = new OpenAPIHono<AppEnv>();

/** A signed registration is accepted this long either side of the Worker's clock. */
const SKEW_MS = 5 * 60_000;

const register = createRoute({
  method: "post",
  path: "/v1/providers",
  tags: ["Storage providers"],
  summary: "Register (or refresh) a storage provider",
  middleware: [jsonBody] as const,
  request: { body: jsonRequest(ProviderRegistration) },
  responses: {
    200: json(ProviderRegistered, "Registered; register again within `heartbeat_seconds`"),
    ...problemResponses(...JSON_BODY_PROBLEMS, "bad_signature", "registration_expired"),
  },
});

providers.openapi(register, async (c) => {
  const body = c.req.valid("json");
  const now = Date.now();
  if (Math.abs(now - body.at) > SKEW_MS) {
    throw new ApiError("registration_expired", `Signed at ${body.at}, now is ${now}.`);
  }
  if (!(await verifySigned(body))) {
    throw new ApiError("bad_signature", "The registration is not signed by the address's key.");
  }
  const registry = c.env.PROVIDERS.get(c.env.PROVIDERS.idFromName("providers"));
  const token = await registry.register(
    {
      address: body.address,
      url: body.url.replace(/\/$/, ""),
      capacity: body.capacity,
      free: body.free,
    },
    now,
  );
  return c.json({ address: body.address, heartbeat_seconds: HEARTBEAT_SECONDS, token }, 200);
});

const ProviderSchema = z
  .object({
    address: SolanaAddress,
    capacity: z.number().int(),
    free: z.number().int(),
    reserved: z.number().int(),
    failures: z.number().int().openapi({ description: "Challenges failed or missed" }),
    seen_at: z.string().openapi({ description: "Last registration (heartbeat), ISO 8601" }),
    pay: z.object({
      periods: z.number().int().openapi({ description: "Proven periods paid for" }),
      owed: MicrosSchema.openapi({
        description: "What those periods earned at the provider price",
      }),
      paid: MicrosSchema.openapi({ description: "What metered storage revenue covered" }),
    }),
  })
  .openapi("StorageProvider");

const show = createRoute({
  method: "get",
  path: "/v1/providers/{address}",
  tags: ["Storage providers"],
  summary: "A storage provider's space and pay",
  request: { params: z.object({ address: SolanaAddress }) },
  responses: {
    200: json(ProviderSchema, "The provider"),
    ...problemResponses("validation_failed", "provider_not_found"),
  },
});

providers.openapi(show, async (c) => {
  const { address } = c.req.valid("param");
  const registry = c.env.PROVIDERS.get(c.env.PROVIDERS.idFromName("providers"));
  const row = await registry.get(address);
  if (!row) throw new ApiError("provider_not_found", `No storage provider ${address}.`);
  const treasury = c.env.TREASURY.get(c.env.TREASURY.idFromName("treasury"));
  const pay = await treasury.providerPay(address);
  return c.json(
    {
      address,
      capacity: row.capacity,
      free: row.free,
      reserved: row.reserved,
      failures: row.failures,
      seen_at: new Date(row.seen_at).toISOString(),
      pay,
    },
    200,
  );
});

async function verifySigned(body: ProviderRegistration): Promise<boolean> {
  const publicKey = publicKeyOf(body.address);
  if (!publicKey) return false;
  try {
    const signature = Uint8Array.from(atob(body.signature), (ch) => ch.charCodeAt(0));
    if (signature.length !== 64) return false;
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
      "verify",
    ]);
    const { signature: _, ...signed } = body;
    return await crypto.subtle.verify(
      { name: "Ed25519" },
      key,
      signature,
      new TextEncoder().encode(registrationMessage(signed)),
    );
  } catch {
    // Not base64, or a point not on the curve: not a valid proof of key.
    return false;
  }
}
