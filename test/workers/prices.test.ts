import { describe, expect, it } from "vitest";
import { api, bearer, jsonInit, signup } from "./helpers.ts";

describe("GET /v1/prices", () => {
  it("lists the prices that quotes use, with storage and egress, without a key", async () => {
    const res = await api("/v1/prices");
    expect(res.status).toBe(200);
    const list = (await res.json()) as {
      currency: string;
      compute: { render: number; inference: number; wgsl: number; platform_fee_bps: number };
      storage: { unit: string; price: number };
      egress: { unit: string; price: number };
    };
    expect(list).toMatchObject({
      currency: "USDC",
      storage: { unit: "GiB-month", price: 4000 },
      egress: { unit: "GiB", price: 10000 },
    });
    // A quote is priced from the same list.
    const { apiKey } = await signup();
    const spec = {
      kind: "render",
      width: 64,
      height: 64,
      samples_per_pixel: 16,
      scene: {
        camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
        sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
        materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
      },
    };
    const quote = (await (
      await api("/v1/jobs/quote", jsonInit("POST", spec, bearer(apiKey)))
    ).json()) as { unit_price: number; platform_fee_bps: number };
    expect(quote.unit_price).toBe(list.compute.render);
    expect(quote.platform_fee_bps).toBe(list.compute.platform_fee_bps);
  });
});
