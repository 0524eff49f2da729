import { z } from "@hono/zod-openapi";
import { CID } from "multiformats/cid";

/**
 * Schemas of the IPFS Pinning Service API v1.0.0 (ipfs/pinning-services-api-spec,
 * `ipfs-pinning-service.yaml`), written from the spec's components: `Pin`, `PinStatus`,
 * `PinResults`, `Failure` and the query parameters of `GET /pins`.
 */
const isCid = (s: string) => {
  try {
    CID.parse(s);
    return true;
  } catch {
    return false;
  }
};

export const STATUSES = ["queued", "pinning", "pinned", "failed"] as const;
export const StatusSchema = z.enum(STATUSES).openapi("PinServiceStatus");

const unique = (items: string[]) => new Set(items).size === items.length;

export const PinSchema = z
  .object({
    cid: z.string().max(200).refine(isCid, "not a valid CID"),
    name: z.string().max(255).optional(),
    origins: z
      .array(z.string().min(1).max(1000))
      .max(20)
      .refine(unique, "origins repeat")
      .optional(),
    meta: z.record(z.string().max(255), z.string().max(2000)).optional(),
  })
  .refine((p) => Object.keys(p.meta ?? {}).length <= 1000, "at most 1000 meta keys")
  .openapi("PinServicePin");

export const PinStatusSchema = z
  .object({
    requestid: z.string(),
    status: StatusSchema,
    created: z.string().openapi({ format: "date-time" }),
    pin: z.object({
      cid: z.string(),
      name: z.string().optional(),
      origins: z.array(z.string()),
      meta: z.record(z.string(), z.string()),
    }),
    delegates: z.array(z.string()).min(1).max(20),
    info: z.record(z.string(), z.string()),
  })
  .openapi("PinServicePinStatus");
export type PinStatus = z.infer<typeof PinStatusSchema>;

export const PinResultsSchema = z
  .object({ count: z.number().int().min(0), results: z.array(PinStatusSchema).max(1000) })
  .openapi("PinServicePinResults");

export const FailureSchema = z
  .object({ error: z.object({ reason: z.string(), details: z.string().optional() }) })
  .openapi("PinServiceFailure");

/** `?cid=Qm1,bafy2` and `?status=queued,pinning`: style form, explode false. */
const commaList = <T extends z.ZodType<string, string>>(item: T, max: number) =>
  z
    .string()
    .transform((s) => s.split(","))
    .pipe(z.array(item).min(1).max(max).refine(unique, "values repeat"));

const metaFilter = z.string().transform((s, ctx) => {
  try {
    return z.record(z.string(), z.string()).parse(JSON.parse(s));
  } catch {
    ctx.addIssue({ code: "custom", message: "meta must be a JSON object of string values" });
    return z.NEVER;
  }
});

export const ListPinsQuery = z.object({
  cid: commaList(z.string().refine(isCid, "not a valid CID"), 10).optional(),
  name: z.string().max(255).optional(),
  match: z.enum(["exact", "iexact", "partial", "ipartial"]).default("exact"),
  status: commaList(StatusSchema, STATUSES.length).optional(),
  before: z.iso.datetime({ offset: true }).optional(),
  after: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(10),
  meta: metaFilter.optional(),
});

export const RequestIdParam = z.object({
  requestid: z.string().openapi({ param: { name: "requestid", in: "path" } }),
});
