import { describe, expect, it } from "vitest";
import { workUnits } from "../../client/kernels/index.ts";
import { JobSpec } from "../../protocol/jobs.ts";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

const scene = {
  camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
  sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
  materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
  spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
};
const render = { kind: "render", width: 640, height: 480, samples_per_pixel: 64, scene };

describe("POST /v1/jobs/quote", () => {
  it("prices a render job from its work units, the price list and replication", async () => {
    const { apiKey } = await signup();
    const res = await api("/v1/jobs/quote", jsonInit("POST", render, bearer(apiKey)));
    expect(res.status).toBe(200);
    const quote = (await res.json()) as Record<string, number>;
    const units = workUnits(JobSpec.parse(render));
    // wrangler.toml: 100 base units per render work unit, 10% platform fee; replication defaults to 2.
    const compute = units * 100 * 2;
    const fee = Math.ceil((compute * 1000) / 10_000);
    expect(quote).toMatchObject({
      kind: "render",
      work_units: units,
      unit_price: 100,
      replication: 2,
      compute_cost: compute,
      platform_fee_bps: 1000,
      platform_fee: fee,
      total: compute + fee,
    });
    expect(Number.isInteger(quote.tasks)).toBe(true);
  });

  it("refuses a job whose price is above its max_price", async () => {
    const { apiKey } = await signup();
    const res = await api(
      "/v1/jobs/quote",
      jsonInit("POST", { ...render, max_price: 1 }, bearer(apiKey)),
    );
    const problem = await expectProblem(res, 422, "price_exceeds_max");
    expect(problem.detail).toContain("max_price");
  });

  it("rejects invalid scenes, oversize jobs and malformed WGSL with field errors", async () => {
    const { apiKey } = await signup();
    const bad = [
      { ...render, width: 100_000 },
      { ...render, scene: { ...scene, spheres: [{ center: [0, 0, -3], radius: 1, material: 7 }] } },
      {
        kind: "wgsl",
        source: "fn nothing() {}",
        entry_point: "main",
        outputs: [{ binding: 0, size: 4 }],
        dispatches: [{ workgroups: [1] }],
      },
      { kind: "teleport" },
    ];
    for (const spec of bad) {
      const problem = await expectProblem(
        await api("/v1/jobs/quote", jsonInit("POST", spec, bearer(apiKey))),
        400,
        "validation_failed",
      );
      expect((problem.errors as unknown[]).length).toBeGreaterThan(0);
    }
  });

  it("needs the jobs scope", async () => {
    const { apiKey } = await signup();
    const created = await api(
      "/v1/keys",
      jsonInit("POST", { scopes: ["storage"] }, bearer(apiKey)),
    );
    const storageKey = ((await created.json()) as { api_key: string }).api_key;
    await expectProblem(
      await api("/v1/jobs/quote", jsonInit("POST", render, bearer(storageKey))),
      403,
      "insufficient_scope",
    );
  });
});
