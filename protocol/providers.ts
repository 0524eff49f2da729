import { z } from "@hono/zod-openapi";
import { SolanaAddress } from "./contributor.ts";

/**
 * The storage provider protocol (docs/protocol.md, "Storage providers"): plain HTTP both ways.
 *
 * - The provider registers (and re-registers as a heartbeat) with `POST /v1/providers`, signing
 *   `registrationMessage(...)` with its ed25519 key; its address is its Solana address.
 * - The platform calls the provider's `url`: `POST /assignments` (fetch and keep a pin),
 *   `POST /challenges` (prove a 1 KiB chunk), `DELETE /assignments/{cid}` (drop it) and
 *   `GET /ipfs/{cid}?format=raw` (a trustless raw block, for the gateway).
 *
 * The platform's calls carry `authorization: Bearer <token>`, the token handed to the provider in
 * answer to its signed registration. Both sides parse every body with these schemas.
 */
export const Hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const Bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const ProviderRegistration = z.object({
  address: SolanaAddress,
  /** Where the platform reaches the provider: an http(s) origin. */
  url: z.url({ protocol: /^https?$/ }),
  capacity: Bytes,
  /** Bytes the provider can still take, as it counts them (its disk). */
  free: Bytes,
  /** Milliseconds since the epoch; a registration older than five minutes is refused. */
  at: z.number().int().min(0),
  /** base64 ed25519 signature of `registrationMessage(...)`. */
  signature: Base64,
});
export type ProviderRegistration = z.infer<typeof ProviderRegistration>;

export function registrationMessage(r: Omit<ProviderRegistration, "signature">): string {
  return `tessera provider\n${r.address}\n${r.url}\n${r.capacity}\n${r.free}\n${r.at}`;
}

/** How often a provider registers again (its heartbeat); stale after three missed. */
export const HEARTBEAT_SECONDS = 30;

export const ProviderRegistered = z.object({
  address: SolanaAddress,
  /** Seconds until the registration counts as stale: register again before then. */
  heartbeat_seconds: z.number().int().min(1),
  /**
   * The bearer token every call from the platform to this provider carries; the provider refuses
   * calls without it (its blocks stay public). The same on every registration.
   */
  token: z.string().min(16),
});

/** `POST {provider}/assignments`: fetch this content from `gateway` and keep it. */
export const Assignment = z.object({
  cid: z.string().min(1).max(200),
  /** BLAKE3 (hex) of the content's proof stream (a file's bytes), the root challenges check. */
  blake3: Hex32,
  size: Bytes,
  /**
   * Trustless gateway the provider fetches blocks from (`?format=raw`, each verified); absent:
   * the Tessera URL the provider registered with.
   */
  gateway: z.url({ protocol: /^https?$/ }).optional(),
});
export type Assignment = z.infer<typeof Assignment>;

export const AssignmentState = z.object({
  cid: z.string(),
  status: z.enum(["fetching", "stored", "failed"]),
  detail: z.string().optional(),
});
export type AssignmentState = z.infer<typeof AssignmentState>;

/** `POST {provider}/challenges`: prove chunk `chunk` (1 KiB, BLAKE3's chunk) of `cid`. */
export const Challenge = z.object({
  cid: z.string().min(1).max(200),
  chunk: z.number().int().min(0),
});
export type Challenge = z.infer<typeof Challenge>;

export const ChallengeAnswer = z.discriminatedUnion("status", [
  /** The chunk's bytes and a proof from `proveFromOutboard`, both base64. */
  z.object({ status: z.literal("proof"), chunk: Base64, proof: Base64 }),
  /** Still fetching the assignment: not a failure until the fetch deadline. */
  z.object({ status: z.literal("fetching") }),
  /** The provider does not hold it (or its fetch failed). */
  z.object({ status: z.literal("missing"), detail: z.string().optional() }),
]);
export type ChallengeAnswer = z.infer<typeof ChallengeAnswer>;
