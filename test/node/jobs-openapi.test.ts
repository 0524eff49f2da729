import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { validate } from "@readme/openapi-parser";
import { expect, it } from "vitest";
import { JobSpec, Quote, TaskSpec } from "../../protocol/jobs.ts";

// The job schemas carry refinements, tuples and defaults; this checks they still make a valid
// OpenAPI 3.1 document before a route mounts them.
it("JobSpec, TaskSpec and Quote generate a valid OpenAPI document", async () => {
  const app = new OpenAPIHono();
  const json = (schema: typeof JobSpec | typeof Quote | typeof TaskSpec) => ({
    content: { "application/json": { schema } },
  });
  app.openapi(
    createRoute({
      method: "post",
      path: "/quote",
      request: { body: { ...json(JobSpec), required: true } },
      responses: {
        200: { ...json(Quote), description: "price" },
        201: { ...json(TaskSpec), description: "task" },
      },
    }),
    (c) => c.json({}, 200) as never,
  );
  const doc = app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } });
  const result = await validate(structuredClone(doc) as never);
  expect(result.valid ? [] : result.errors).toEqual([]);
  expect(Object.keys(doc.components?.schemas ?? {})).toEqual(
    expect.arrayContaining(["JobSpec", "RenderJobSpec", "RenderScene", "Quote", "TaskSpec"]),
  );
});
