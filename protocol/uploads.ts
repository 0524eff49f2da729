import { z } from "@hono/zod-openapi";
import { pageQuery } from "./pagination.ts";

/** API bodies of `/v1/uploads`. Sizes are bytes; `blake3` is hex, the root storage proofs use. */
export const Upload = z
  .object({
    cid: z
      .string()
      .openapi({ example: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" }),
    name: z.string().nullable(),
    kind: z.enum(["file", "directory", "car"]),
    size: z.number().int().openapi({ description: "Bytes of content (files) or of blocks (CARs)" }),
    dag_size: z.number().int().openapi({ description: "Bytes of blocks this upload stored" }),
    blocks: z.number().int(),
    blake3: z.string().nullable().openapi({ description: "BLAKE3 of a file's bytes, hex" }),
    created_at: z.string().openapi({ format: "date-time" }),
    grace_until: z.string().nullable().openapi({
      format: "date-time",
      description:
        "Set while the account's balance cannot pay for its storage: the upload is released at this time unless a deposit pays what is owed (`GET /v1/account`, `billing`)",
    }),
  })
  .openapi("Upload");

export const CarUpload = Upload.extend({
  roots: z.array(z.string()),
}).openapi("CarUpload");

export const DirectoryUpload = Upload.extend({
  files: z.number().int(),
}).openapi("DirectoryUpload");

export const UploadList = z
  .object({ data: z.array(Upload), next_cursor: z.string().nullable() })
  .openapi("UploadList");

export const ListUploadsQuery = pageQuery(100);

export const UploadQuery = z.object({
  name: z.string().min(1).max(255).optional().openapi({ description: "A name to remember it by" }),
});

export const CidParam = z.object({
  cid: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: "cid", in: "path" } }),
});

export const CreateSessionBody = z
  .object({ name: z.string().min(1).max(255).optional() })
  .strict()
  .openapi("CreateUploadSession");

export const UploadSession = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    state: z.enum(["open", "completed", "aborted"]),
    cid: z.string().nullable(),
    parts: z.array(z.object({ n: z.number().int(), size: z.number().int() })),
    received: z.number().int().openapi({ description: "Bytes received so far" }),
    expires_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("UploadSession");

export const SessionParam = z.object({
  id: z
    .string()
    .regex(/^ups_[a-z2-7]{20}$/)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const PartParam = SessionParam.extend({
  n: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .openapi({ param: { name: "n", in: "path" } }),
});
