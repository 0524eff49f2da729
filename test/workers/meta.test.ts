import { describe, expect, it } from "vitest";
import { api, expectProblem } from "./helpers.ts";

describe("service endpoints", () => {
  it("answers /healthz", async () => {
    const res = await api("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", service: "tessera" });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("publishes an OpenAPI 3.1 document listing every route", async () => {
    const res = await api("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, object> };
    expect(doc.openapi).toBe("3.1.0");
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        "GET /healthz",
        "GET /docs",
        "GET /openapi.json",
        "POST /v1/accounts",
        "GET /v1/account",
        "POST /v1/keys",
        "GET /v1/keys",
        "DELETE /v1/keys/{id}",
        "GET /ipfs/{cid}",
        "HEAD /ipfs/{cid}",
        "GET /ipfs/{cid}/{path}",
        "HEAD /ipfs/{cid}/{path}",
        "POST /v1/uploads",
        "GET /v1/uploads",
        "GET /v1/uploads/{cid}",
        "DELETE /v1/uploads/{cid}",
        "POST /v1/uploads/sessions",
        "GET /v1/contribute",
        "POST /v1/jobs/quote",
        "POST /v1/jobs",
        "GET /v1/jobs",
        "GET /v1/jobs/{id}",
        "GET /v1/jobs/{id}/events",
        "POST /v1/jobs/{id}/cancel",
        "GET /v1/contributors/{address}",
        "GET /v1/prices",
        "POST /v1/billing/deposits",
        "GET /v1/billing/deposits/{id}",
        "GET /v1/admin/ledger",
        "POST /v1/contributors/{address}/stake",
        "GET /v1/contributors/{address}/stake/{id}",
        "POST /v1/contributors/{address}/unstake",
        "GET /v1/usage",
        "GET /v1/invoices",
        "GET /v1/invoices/{period}",
        "PUT /v1/account/spend-cap",
        "GET /v1/account/spend-cap",
        "PUT /v1/keys/{id}/spend-cap",
        "GET /v1/keys/{id}/spend-cap",
        "GET /v1/uploads/sessions/{id}",
        "DELETE /v1/uploads/sessions/{id}",
        "PUT /v1/uploads/sessions/{id}/parts/{n}",
        "POST /v1/uploads/sessions/{id}/complete",
        "POST /v1/providers",
        "GET /v1/providers/{address}",
        "GET /pinning/pins",
        "POST /pinning/pins",
        "GET /pinning/pins/{requestid}",
        "POST /pinning/pins/{requestid}",
        "DELETE /pinning/pins/{requestid}",
      ].sort(),
    );
  });

  it("serves the API reference at /docs", async () => {
    const res = await api("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await res.text()).toContain("/openapi.json");
  });

  it("serves the contributor page at /", async () => {
    const res = await api("/");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("contribute your GPU");
  });

  it("answers unknown routes with a 404 problem", async () => {
    await expectProblem(await api("/no/such/thing"), 404, "not_found");
    await expectProblem(await api("/v1/nope", { method: "POST" }), 404, "not_found");
  });

  it("lets browsers call the API cross-origin", async () => {
    const res = await api("/v1/account", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
  });
});
