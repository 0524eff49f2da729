import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { CID } from "multiformats/cid";
import type { Account } from "../../durable-objects/account/account.ts";
import { BlockWriter, releaseUpload } from "../../durable-objects/storage/writer.ts";
import {
  CarUpload,
  CidParam,
  DirectoryUpload,
  ListUploadsQuery,
  Upload,
  UploadList,
  UploadQuery,
} from "../../protocol/uploads.ts";
import { config } from "../config.ts";
import { authenticate, requireScope } from "../http/auth.ts";
import { idempotencyKey, runIdempotent } from "../http/idempotency.ts";
import {
  AUTHENTICATED_PROBLEMS,
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKeyHeader,
  json,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { ApiError } from "../http/problem.ts";
import type { AppEnv } from "../http/types.ts";
import { newUploadId } from "../storage/ids.ts";
import { ingestCar, ingestDirectory, ingestFile, single } from "../storage/ingest.ts";
import { finishUpload } from "../storage/store.ts";

/** `/v1/uploads`: store files, directories and CARs as IPFS content. Scope `storage`. */
export const uploads = new OpenAPIHono<AppEnv>();

const MEDIA_TYPES = ["application/octet-stream", "application/vnd.ipld.car", "multipart/form-data"];
const binary = { schema: { type: "string" as const, format: "binary" } };

const createUpload = createRoute({
  method: "post",
  path: "/v1/uploads",
  tags: ["Storage"],
  summary: "Upload a file, a directory or a CAR",
  description:
    "The body's media type decides: `application/octet-stream` stores one file (UnixFS, Kubo's unixfs-v1-2025 profile, so the CID equals `ipfs add`'s); `application/vnd.ipld.car` stores every block of a CARv1 after checking it against its CID; `multipart/form-data` builds a directory from the file parts, each part's filename its path. Bodies up to `MAX_UPLOAD_REQUEST_BYTES`; use upload sessions beyond. Uploading content the account already holds answers 200 with the existing upload.",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: {
    query: UploadQuery,
    headers: IdempotencyKeyHeader,
    body: {
      required: true,
      content: {
        "application/octet-stream": binary,
        "application/vnd.ipld.car": binary,
        "multipart/form-data": { schema: { type: "object" as const } },
      },
    },
  },
  responses: {
    201: json(Upload.or(CarUpload).or(DirectoryUpload), "Stored"),
    200: json(Upload.or(CarUpload).or(DirectoryUpload), "Already stored by this account"),
    ...problemResponses(
      ...AUTHENTICATED_PROBLEMS,
      ...IDEMPOTENCY_PROBLEMS,
      "unsupported_media_type",
      "payload_too_large",
      "storage_quota_exceeded",
      "spend_cap_exceeded",
      "invalid_car",
      "car_block_mismatch",
      "invalid_path",
      "directory_too_large",
      "validation_failed",
    ),
  },
});

uploads.openapi(createUpload, async (c) => {
  const settings = config(c.env);
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!MEDIA_TYPES.includes(mediaType)) {
    throw new ApiError(
      "unsupported_media_type",
      `Upload with one of ${MEDIA_TYPES.join(", ")}${mediaType ? `, not ${mediaType}` : ""}.`,
    );
  }
  const length = Number(c.req.header("content-length") ?? Number.NaN);
  if (length > settings.maxUploadRequestBytes) {
    throw new ApiError(
      "payload_too_large",
      `One request carries at most ${settings.maxUploadRequestBytes} bytes; use POST /v1/uploads/sessions for larger files.`,
    );
  }
  const { name } = c.req.valid("query");
  const account = c.var.account;
  const response = await runIdempotent(
    c,
    account,
    idempotencyKey(c),
    async () => {
      const keyId = c.var.principal.keyId;
      // Storing it for the rest of the month must fit under the spend caps; unknown length
      // (a streamed body) asks only whether a cap is already reached.
      const refused = await account.checkUploadSpend(keyId, Number.isFinite(length) ? length : 0);
      if (refused) throw new ApiError(refused.code, `${refused.detail}.`);
      const budget = { remaining: settings.storageQuotaBytes - (await account.storageUsed()) };
      if (length > budget.remaining) {
        throw new ApiError(
          "storage_quota_exceeded",
          `This upload of ${length} bytes does not fit in the ${budget.remaining} bytes left in the account's quota.`,
        );
      }
      const body = limitBody(
        c.req.raw.body ?? new Blob([]).stream(),
        settings.maxUploadRequestBytes,
      );
      const writer = new BlockWriter(c.env, newUploadId());
      const quota = settings.storageQuotaBytes;
      // Recorded with the key that stored it: per-key storage usage and spend.
      const record = (row: Parameters<Account["recordUpload"]>[0]) =>
        account.recordUpload(row, quota, keyId);
      try {
        if (mediaType === "application/octet-stream") {
          const file = await ingestFile(single(body), writer, budget);
          const kind = "file" as const;
          const done = await finishUpload(
            c.env,
            account,
            writer,
            { ...file, name: name ?? null, kind },
            quota,
            record,
          );
          return c.json(done.upload, done.created ? 201 : 200);
        }
        if (mediaType === "application/vnd.ipld.car") {
          const car = await ingestCar(body, writer, budget);
          const [root] = car.roots as [CID, ...CID[]];
          const upload = {
            cid: root,
            name: name ?? null,
            kind: "car" as const,
            size: car.size,
            blake3: null,
          };
          const done = await finishUpload(c.env, account, writer, upload, quota, record);
          const roots = car.roots.map(String);
          return c.json({ ...done.upload, roots }, done.created ? 201 : 200);
        }
        const form = await readForm(body, c.req.header("content-type") ?? "");
        const dir = await ingestDirectory(form, writer, budget);
        const upload = { ...dir, name: name ?? null, kind: "directory" as const, blake3: null };
        const done = await finishUpload(c.env, account, writer, upload, quota, record);
        return c.json({ ...done.upload, files: dir.files }, done.created ? 201 : 200);
      } catch (err) {
        await writer.abort();
        throw err;
      }
    },
    { streamedBody: true },
  );
  return response as never;
});

/** Enforces the single-request limit while streaming, for bodies sent without Content-Length. */
function limitBody(body: ReadableStream<Uint8Array>, max: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > max) {
          throw new ApiError(
            "payload_too_large",
            `One request carries at most ${max} bytes; use POST /v1/uploads/sessions for larger files.`,
          );
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

async function readForm(body: ReadableStream<Uint8Array>, contentType: string): Promise<FormData> {
  try {
    return await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch (err) {
    if (err instanceof ApiError) throw err; // e.g. payload_too_large from limitBody
    throw new ApiError(
      "validation_failed",
      `The multipart body could not be parsed: ${err instanceof Error ? err.message : err}.`,
    );
  }
}

const listUploads = createRoute({
  method: "get",
  path: "/v1/uploads",
  tags: ["Storage"],
  summary: "List uploads, newest first",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { query: ListUploadsQuery },
  responses: {
    200: json(UploadList, "A page of uploads"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "validation_failed"),
  },
});

uploads.openapi(listUploads, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const page = await c.var.account.listUploads(limit, cursor ? Number(cursor) : undefined);
  return c.json(page, 200);
});

/** Normalises a CID from a path to the CIDv1 base32 string uploads are recorded under. */
function parseCid(text: string): string {
  try {
    return CID.parse(text).toV1().toString();
  } catch {
    throw new ApiError("invalid_cid", `"${text}" is not a CID.`);
  }
}

const getUpload = createRoute({
  method: "get",
  path: "/v1/uploads/{cid}",
  tags: ["Storage"],
  summary: "One upload",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { params: CidParam },
  responses: {
    200: json(Upload, "The upload"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "invalid_cid", "upload_not_found"),
  },
});

uploads.openapi(getUpload, async (c) => {
  const cid = parseCid(c.req.valid("param").cid);
  const upload = await c.var.account.getUpload(cid);
  if (!upload) throw new ApiError("upload_not_found", `This account holds no upload ${cid}.`);
  return c.json(upload, 200);
});

const deleteUpload = createRoute({
  method: "delete",
  path: "/v1/uploads/{cid}",
  tags: ["Storage"],
  summary: "Delete an upload",
  description:
    "Forgets the upload and frees its quota; blocks that no other upload or pin references are deleted.",
  security: SECURITY,
  middleware: [authenticate, requireScope("storage")] as const,
  request: { params: CidParam },
  responses: {
    200: json(Upload, "The deleted upload"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS, "invalid_cid", "upload_not_found"),
  },
});

uploads.openapi(deleteUpload, async (c) => {
  const cid = parseCid(c.req.valid("param").cid);
  const removed = await c.var.account.removeUpload(cid);
  if (!removed) throw new ApiError("upload_not_found", `This account holds no upload ${cid}.`);
  await releaseUpload(c.env, removed.upload_id);
  return c.json(removed, 200);
});
