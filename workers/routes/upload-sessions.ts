import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { BlockWriter } from "../../durable-objects/storage/writer.ts";
import {
  CreateSessionBody,
  PartParam,
  SessionParam,
  Upload,
  UploadSession,
} from "../../protocol/uploads.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { idempotent } from "../http/idempotency.ts";
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
import { newSessionId, newUploadId } from "../storage/ids.ts";
import { ingestFile } from "../storage/ingest.ts";
import { finishUpload } from "../storage/store.ts";

/**
 * Resumable uploads for files larger than one request (`/v1/uploads/sessions`): open a session,
 * PUT numbered parts in any order (a failed part is simply sent again), then complete. Parts are
 * staged in R2 and count against the storage quota while the session is open; completing streams
 * them in order through the same importer as a single upload, so the CID is the same.
 */
export const uploadSessions = new OpenAPIHono<AppEnv>();

const stagingKey = (accountId: string, id: string, n: number) => `staging/${accountId}/${id}/${n}`;

const open = createRoute({
  method: "post",
  path: "/v1/uploads/sessions",
  tags: ["Storage"],
  summary: "Open a resumable upload session",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage"), jsonBody, idempotent] as const,
  request: { headers: IdempotencyKeyHeader, body: jsonRequest(CreateSessionBody) },
  responses: {
    201: json(UploadSession, "The session; PUT its parts, then complete it"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, ...JSON_BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS),
  },
});

uploadSessions.openapi(open, async (c) => {
  const { name } = c.req.valid("json");
  return c.json(await c.var.account.openUploadSession(newSessionId(), name ?? null), 201);
});

const show = createRoute({
  method: "get",
  path: "/v1/uploads/sessions/{id}",
  tags: ["Storage"],
  summary: "A session's progress: parts and bytes received",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { params: SessionParam },
  responses: {
    200: json(UploadSession, "The session"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed", "upload_session_not_found"),
  },
});

uploadSessions.openapi(show, async (c) => {
  const { id } = c.req.valid("param");
  return c.json(await sessionOrThrow(c.var.account, id), 200);
});

const putPart = createRoute({
  method: "put",
  path: "/v1/uploads/sessions/{id}/parts/{n}",
  tags: ["Storage"],
  summary: "Upload part n (1-based) of the file",
  description:
    "Parts are joined in number order. Every part but the last should be the same size; sending a part again replaces it.",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: {
    params: PartParam,
    body: {
      required: true,
      content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
    },
  },
  responses: {
    200: json(z.object({ n: z.number().int(), size: z.number().int() }), "Part stored"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      "validation_failed",
      "upload_session_not_found",
      "upload_session_closed",
      "length_required",
      "payload_too_large",
      "storage_quota_exceeded",
      "spend_cap_exceeded",
      "unsupported_media_type",
    ),
  },
});

uploadSessions.openapi(putPart, async (c) => {
  const { id, n } = c.req.valid("param");
  const settings = config(c.env);
  const account = c.var.account;
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/octet-stream") {
    throw new ApiError("unsupported_media_type", "Send parts as application/octet-stream.");
  }
  const length = Number(c.req.header("content-length"));
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new ApiError("length_required", "Parts need a Content-Length.");
  }
  if (length > settings.maxUploadRequestBytes) {
    throw new ApiError(
      "payload_too_large",
      `A part carries at most ${settings.maxUploadRequestBytes} bytes.`,
    );
  }
  const session = await sessionOrThrow(account, id);
  if (session.state !== "open") {
    throw new ApiError("upload_session_closed", `Session ${id} is ${session.state}.`);
  }
  // The session's bytes, stored to the end of the month, must fit under the spend caps.
  const refused = await account.checkUploadSpend(c.var.principal.keyId, session.received + length);
  if (refused) throw new ApiError(refused.code, `${refused.detail}.`);
  const key = stagingKey(c.var.principal.accountId, id, n);
  const stored = await c.env.BLOCKS.put(key, c.req.raw.body ?? new Uint8Array(0));
  if (!stored) throw new Error(`R2 refused to store ${key}`);
  const outcome = await account.recordUploadPart(id, n, stored.size, settings.storageQuotaBytes);
  if (!outcome.ok) {
    await c.env.BLOCKS.delete(key);
    throw new ApiError(outcome.code, `${outcome.detail}.`);
  }
  return c.json({ n, size: stored.size }, 200);
});

const complete = createRoute({
  method: "post",
  path: "/v1/uploads/sessions/{id}/complete",
  tags: ["Storage"],
  summary: "Join the parts into one file and store it",
  description: "Completing twice is harmless: the second call answers the same upload.",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { params: SessionParam },
  responses: {
    201: json(Upload, "Stored"),
    200: json(Upload, "Already completed, or the account already held this content"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      "validation_failed",
      "upload_session_not_found",
      "upload_session_closed",
      "upload_parts_missing",
      "storage_quota_exceeded",
    ),
  },
});

uploadSessions.openapi(complete, async (c) => {
  const { id } = c.req.valid("param");
  const settings = config(c.env);
  const account = c.var.account;
  const accountId = c.var.principal.accountId;
  const session = await sessionOrThrow(account, id);
  if (session.state === "completed" && session.cid) {
    const upload = await account.getUpload(session.cid);
    if (upload) return c.json(upload, 200);
  }
  if (session.state !== "open") {
    throw new ApiError("upload_session_closed", `Session ${id} is ${session.state}.`);
  }
  const numbers = session.parts.map((p) => p.n);
  const missing = numbers.length === 0 ? [1] : gaps(numbers);
  if (missing.length > 0) {
    throw new ApiError(
      "upload_parts_missing",
      `Part${missing.length > 1 ? "s" : ""} ${missing.slice(0, 10).join(", ")} ${missing.length > 1 ? "are" : "is"} missing.`,
    );
  }

  const env = c.env;
  async function* parts() {
    for (const n of numbers) {
      const object = await env.BLOCKS.get(stagingKey(accountId, id, n));
      if (!object) throw new ApiError("upload_parts_missing", `Part ${n} is no longer staged.`);
      yield object.body;
    }
  }
  const writer = new BlockWriter(env, newUploadId());
  // Staged parts already count against the quota, so the import may use all of it.
  const budget = { remaining: settings.storageQuotaBytes };
  try {
    const file = await ingestFile(parts(), writer, budget);
    const done = await finishUpload(
      env,
      account,
      writer,
      { ...file, name: session.name, kind: "file" },
      settings.storageQuotaBytes,
      (row) =>
        account.completeUploadSession(id, row, settings.storageQuotaBytes, c.var.principal.keyId),
    );
    // The upload is recorded: a failure to drop the staged parts must not undo it.
    await env.BLOCKS.delete(numbers.map((n) => stagingKey(accountId, id, n))).catch((err) =>
      console.error(`staged parts of ${id} were not deleted`, err),
    );
    return c.json(done.upload, done.created ? 201 : 200);
  } catch (err) {
    await writer.abort();
    throw err;
  }
});

const abort = createRoute({
  method: "delete",
  path: "/v1/uploads/sessions/{id}",
  tags: ["Storage"],
  summary: "Abort a session and discard its parts",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { params: SessionParam },
  responses: {
    200: json(UploadSession, "The aborted session"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      "validation_failed",
      "upload_session_not_found",
      "upload_session_closed",
    ),
  },
});

uploadSessions.openapi(abort, async (c) => {
  const { id } = c.req.valid("param");
  const account = c.var.account;
  const session = await sessionOrThrow(account, id);
  if (session.state !== "open") {
    throw new ApiError("upload_session_closed", `Session ${id} is ${session.state}.`);
  }
  const keys = session.parts.map((p) => stagingKey(c.var.principal.accountId, id, p.n));
  if (keys.length > 0) await c.env.BLOCKS.delete(keys);
  await account.abortUploadSession(id);
  return c.json(await sessionOrThrow(account, id), 200);
});

async function sessionOrThrow(account: AppEnv["Variables"]["account"], id: string) {
  const session = await account.uploadSession(id);
  if (!session) throw new ApiError("upload_session_not_found", `No upload session ${id}.`);
  return session;
}

/** Numbers missing from 1..max(ns). */
function gaps(ns: number[]): number[] {
  const have = new Set(ns);
  const out: number[] = [];
  for (let i = 1; i <= Math.max(...ns); i++) if (!have.has(i)) out.push(i);
  return out;
}
