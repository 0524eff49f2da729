import { z } from "@hono/zod-openapi";
import type { JobSpec, TaskSpec } from "./jobs.ts";

/**
 * The contributor protocol: JSON text frames over the WebSocket at `GET /v1/contribute`.
 * docs/protocol.md is the prose version; every frame, both ways, is parsed by these schemas.
 *
 * Handshake: the server speaks first with a `challenge` (a fresh nonce); the contributor answers
 * `auth` with its ed25519 public key as a Solana address (base58) and a signature over
 * `authMessage(nonce, pool)`; the server answers `welcome` or an `error` and closes.
 */
export const PROTOCOL_VERSION = 1;
export const POOLS = ["browser", "native"] as const;
export type Pool = (typeof POOLS)[number];

/** A Solana address: base58 of a 32-byte ed25519 public key (32 to 44 characters). */
export const SolanaAddress = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);

/** What is signed in the handshake: domain-separated so the signature means nothing elsewhere. */
export function authMessage(nonce: string, pool: Pool): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`tessera contribute v${PROTOCOL_VERSION}\n${pool}\n${nonce}`);
}

/** WebGPU limits and features the contributor's adapter offers (a subset of GPUSupportedLimits). */
export const Capabilities = z
  .object({
    features: z.array(z.string().max(64)).max(64).default([]),
    limits: z
      .object({
        maxBufferSize: z.number().int().nonnegative(),
        maxStorageBufferBindingSize: z.number().int().nonnegative(),
        maxComputeWorkgroupsPerDimension: z.number().int().nonnegative(),
        maxComputeInvocationsPerWorkgroup: z.number().int().nonnegative(),
      })
      .partial()
      .default({}),
    adapter: z.string().max(200).optional(),
  })
  .strict();
export type Capabilities = z.infer<typeof Capabilities>;

// --- contributor → server ---------------------------------------------------------------------

export const AuthFrame = z
  .object({
    type: z.literal("auth"),
    version: z.literal(PROTOCOL_VERSION),
    address: SolanaAddress,
    /** base64 of the 64-byte ed25519 signature over `authMessage(nonce, pool)`. */
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
    capabilities: Capabilities,
    /**
     * Where earnings are paid, when not to `address` itself (e.g. a key made in a browser tab
     * paying out to the visitor's wallet). The latest one given is used.
     */
    payout: SolanaAddress.optional(),
  })
  .strict();

/** The most tasks one slot takes at once (see `ReadyFrame.batch`). */
export const MAX_BATCH = 64;

export const ReadyFrame = z
  .object({
    type: z.literal("ready"),
    slots: z.number().int().min(1).max(16).default(1),
    /**
     * Tasks per slot (default 1). Above 1 the contributor speaks batches: the server may send it
     * several frames at once in one `batch` frame (up to `slots × batch` tasks out at a time), and
     * it answers the tasks of one `batch` frame together in one `batch` frame of its own.
     */
    batch: z.number().int().min(1).max(MAX_BATCH).optional(),
  })
  .strict();

/** Outputs travel inside the result frame, base64, up to this many bytes (a render tile is 48 KiB). */
export const MAX_OUTPUT_BYTES = 1024 * 1024;
const MAX_OUTPUT_BASE64 = Math.ceil(MAX_OUTPUT_BYTES / 3) * 4;

/** `<job id>.<task index>`: names one task of one job in every frame about it. */
export const TaskId = z.string().regex(/^job_[a-z2-7]{20}\.\d{1,9}$/);
/** Opaque to the contributor: 32 random bytes, base64url. */
export const LeaseToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

export const ResultFrame = z
  .object({
    type: z.literal("result"),
    task_id: TaskId,
    lease_token: LeaseToken,
    /** The task's output bytes, base64 (layouts per kind in docs/kernels.md). */
    output: z
      .string()
      .max(MAX_OUTPUT_BASE64)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/),
    /** BLAKE3 hex of the output bytes: checked by the server, and what replicas are compared by. */
    digest: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const FailedFrame = z
  .object({
    type: z.literal("failed"),
    task_id: TaskId,
    lease_token: LeaseToken,
    reason: z.string().max(500),
  })
  .strict();

/** Several results and failures in one frame (a contributor that declared `batch` > 1). */
export const BatchFrame = z
  .object({
    type: z.literal("batch"),
    frames: z
      .array(z.discriminatedUnion("type", [ResultFrame, FailedFrame]))
      .min(1)
      .max(16 * MAX_BATCH),
  })
  .strict();

export const ClientFrame = z.discriminatedUnion("type", [
  AuthFrame,
  ReadyFrame,
  ResultFrame,
  FailedFrame,
  BatchFrame,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

// --- server → contributor ---------------------------------------------------------------------

/** Stable codes of protocol errors, sent before the server closes or ignores a frame. */
export const PROTOCOL_ERRORS = [
  "malformed_frame",
  "out_of_order",
  "bad_signature",
  "unknown_lease",
  "lease_expired",
  "bad_output",
  "job_closed",
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERRORS)[number];

/**
 * How far the network trusts a contributor, from its record (the `Contributor` object):
 * `new` contributors get canary tasks mixed in, `trusted` ones are verified by sampling.
 */
export const TRUST_TIERS = ["new", "established", "trusted"] as const;
export type TrustTier = (typeof TRUST_TIERS)[number];

/**
 * A leased task as it travels: the slice to compute (`task`) of the job `job_id`, whose spec came
 * earlier on this connection in a `job` frame (sent once per job per connection, since a spec can
 * be large: a scene's meshes, a shader with a thousand dispatches).
 */
export interface TaskWireFrame {
  type: "task";
  task_id: string;
  job_id: string;
  lease_token: string;
  /** Epoch milliseconds: a result after this is not accepted. */
  deadline: number;
  task: TaskSpec;
}

/** A job's spec (scene, layers, shader), sent before the connection's first task of that job. */
export interface JobFrame {
  type: "job";
  job_id: string;
  spec: JobSpec;
}

/** A leased task with its job's spec: what a contributor's kernel is given. */
export interface TaskFrame extends TaskWireFrame {
  job: JobSpec;
}

/** Server frames that may travel inside a `batch` frame. */
export type BatchableFrame = Extract<
  ServerFrame,
  { type: "job" | "task" | "ack" | "verdict" | "error" }
>;

export type ServerFrame =
  /** Several frames at once, in order, to a contributor that declared `batch` > 1. */
  | { type: "batch"; frames: BatchableFrame[] }
  | { type: "challenge"; version: number; pool: Pool; nonce: string }
  | { type: "welcome"; address: string; pool: Pool; trust: TrustTier }
  | JobFrame
  | TaskWireFrame
  /** The result was stored and waits for its replicas (`received`), or was already in (`duplicate`). */
  | { type: "ack"; task_id: string; status: "received" | "duplicate" }
  /** Verification decided: `accepted` results earn `earned` USDC base units; `rejected` earn 0. */
  | {
      type: "verdict";
      task_id: string;
      status: "accepted" | "rejected";
      earned: number;
      reason?: string;
    }
  | { type: "error"; code: ProtocolErrorCode; message: string; fatal: boolean; task_id?: string };

/**
 * The server's frames as the contributor parses them: shapes and ids checked; a job's `spec` and
 * a task's `task` are objects whose meaning the kernels check (protocol/jobs.ts, tasks.ts).
 */
const JobId = z.string().regex(/^job_[a-z2-7]{20}$/);
const Payload = z.record(z.string(), z.unknown());
const ServerJobFrame = z.object({ type: z.literal("job"), job_id: JobId, spec: Payload });
const ServerTaskFrame = z.object({
  type: z.literal("task"),
  task_id: TaskId,
  job_id: JobId,
  lease_token: LeaseToken,
  deadline: z.number().int(),
  task: Payload,
});
const AckFrame = z.object({
  type: z.literal("ack"),
  task_id: TaskId,
  status: z.enum(["received", "duplicate"]),
});
const VerdictFrame = z.object({
  type: z.literal("verdict"),
  task_id: TaskId,
  status: z.enum(["accepted", "rejected"]),
  earned: z.number().int().nonnegative(),
  reason: z.string().optional(),
});
const ErrorFrame = z.object({
  type: z.literal("error"),
  code: z.enum(PROTOCOL_ERRORS),
  message: z.string(),
  fatal: z.boolean(),
  task_id: TaskId.optional(),
});
const BatchableServerFrame = z.discriminatedUnion("type", [
  ServerJobFrame,
  ServerTaskFrame,
  AckFrame,
  VerdictFrame,
  ErrorFrame,
]);
export const ServerFrameSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("challenge"),
    version: z.number().int(),
    pool: z.enum(POOLS),
    nonce: z.string().min(1),
  }),
  z.object({
    type: z.literal("welcome"),
    address: SolanaAddress,
    pool: z.enum(POOLS),
    trust: z.enum(TRUST_TIERS),
  }),
  z.object({ type: z.literal("batch"), frames: z.array(BatchableServerFrame).min(1) }),
  ServerJobFrame,
  ServerTaskFrame,
  AckFrame,
  VerdictFrame,
  ErrorFrame,
]);

/** A server frame parsed by `ServerFrameSchema`, or null when it is not one. */
export function parseServerFrame(text: string): ServerFrame | null {
  try {
    const r = ServerFrameSchema.safeParse(JSON.parse(text));
    // The checked shapes are the `ServerFrame` types; `spec` and `task` are checked by their use.
    return r.success ? (r.data as unknown as ServerFrame) : null;
  } catch {
    return null;
  }
}
