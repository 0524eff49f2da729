import { validate } from "@readme/openapi-parser";
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app.ts";

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document by an independent validator", async () => {
    const res = await createApp().request("/openapi.json");
    const doc = (await res.json()) as { openapi: string };
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(doc.openapi).toBe("3.1.0");
  });

  it("documents every problem as application/problem+json (the Pinning Service API: its own shape)", async () => {
    const doc = (await (await createApp().request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>>;
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          // The Pinning Service API's routes answer errors in that spec's shape (workers/routes/pins.ts).
          const media = path.startsWith("/pinning/")
            ? "application/json"
            : "application/problem+json";
          if (Number(status) >= 400) {
            expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual([
              media,
            ]);
          }
        }
      }
    }
  });
});
