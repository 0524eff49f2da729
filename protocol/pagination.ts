import { z } from "@hono/zod-openapi";

/**
 * Cursor pagination, newest first: `?limit=&cursor=` in, `{ data, next_cursor }` out. The cursor
 * is opaque to clients (it is the row's sequence number).
 */
export function pageQuery(maxLimit: number) {
  return z.object({
    limit: z.coerce.number().int().min(1).max(maxLimit).default(20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional()
      .openapi({ description: "`next_cursor` from the previous page" }),
  });
}
