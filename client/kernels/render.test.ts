import { describe, expect, it } from "vitest";
import { RenderSpec } from "../../protocol/jobs.ts";
import { compareRenderTile } from "./compare.ts";
import { assembleTiles } from "./image.ts";
import { planTasks } from "./plan.ts";
import { draw, pcg, sampleKey } from "./render/rng.ts";
import { renderTile } from "./render.ts";

const camera = { position: [0, 0, 0], look_at: [0, 0, -1] };

function spec(overrides: Record<string, unknown> = {}, scene: Record<string, unknown> = {}) {
  return RenderSpec.parse({
    kind: "render",
    width: 24,
    height: 16,
    samples_per_pixel: 8,
    scene: {
      camera,
      sky: { top: [0.9, 0.95, 1], bottom: [0.2, 0.1, 0.05] },
      materials: [
        { type: "diffuse", albedo: [0.7, 0.3, 0.2] },
        { type: "metal", albedo: [0.9, 0.9, 0.9], fuzz: 0.2 },
        { type: "glass", ior: 1.5 },
        { type: "emissive", radiance: [4, 4, 3] },
      ],
      spheres: [
        { center: [-1, 0, -4], radius: 1, material: 0 },
        { center: [1.2, 0, -4], radius: 0.8, material: 2 },
        { center: [0, 2.5, -5], radius: 0.7, material: 3 },
      ],
      planes: [{ point: [0, -1, 0], normal: [0, 1, 0], material: 1 }],
      meshes: [
        {
          positions: [
            [-0.5, -1, -2.5],
            [0.5, -1, -2.5],
            [0, 0, -3],
          ],
          triangles: [[0, 1, 2]],
          material: 0,
        },
      ],
      ...scene,
    },
    ...overrides,
  });
}

const whole = (s: RenderSpec) =>
  renderTile(s, {
    x: 0,
    y: 0,
    width: s.width,
    height: s.height,
    sampleStart: 0,
    sampleCount: s.samples_per_pixel,
  });

/** The PCG hash computed a different way (BigInt, masked), to pin the formula in rng.ts. */
function pcgBig(v: number): number {
  const m = (1n << 32n) - 1n;
  const s = (BigInt(v) * 747796405n + 2891336453n) & m;
  const w = (((s >> ((s >> 28n) + 4n)) ^ s) * 277803737n) & m;
  return Number((w >> 22n) ^ w);
}

describe("render RNG", () => {
  it("is the PCG-RXS-M-XS hash, nested over seed, pixel and sample", () => {
    for (const v of [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 123456789])
      expect(pcg(v)).toBe(pcgBig(v));
    expect(sampleKey(7, 100, 3)).toBe(pcgBig((pcgBig((pcgBig(7) + 100) % 2 ** 32) + 3) % 2 ** 32));
  });

  it("draws 24-bit numbers in [0, 1)", () => {
    for (let k = 0; k < 1000; k++) {
      const u = draw(sampleKey(1, k, 0), k);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(u * 2 ** 24).toBe(Math.floor(u * 2 ** 24));
    }
  });
});

describe("renderTile", () => {
  it("is deterministic: the same spec gives identical floats", () => {
    expect(whole(spec())).toEqual(whole(spec()));
  });

  it("depends on the seed", () => {
    const a = whole(spec({ seed: 1 }));
    const b = whole(spec({ seed: 2 }));
    expect(a).not.toEqual(b);
    expect(compareRenderTile(a, b).ok).toBe(false);
  });

  it("sees the sky colour when the scene is empty and the sky uniform", () => {
    const s = spec(
      {},
      {
        sky: { top: [0.25, 0.5, 0.75], bottom: [0.25, 0.5, 0.75] },
        spheres: [],
        planes: [],
        meshes: [],
      },
    );
    const img = whole(s);
    for (let i = 0; i < img.length; i += 3)
      expect([img[i], img[i + 1], img[i + 2]]).toEqual([0.25, 0.5, 0.75]);
  });

  it("sees radiance L on a pixel looking at an emissive surface", () => {
    const s = spec(
      {},
      { spheres: [], meshes: [], planes: [{ point: [0, 0, -2], normal: [0, 0, 1], material: 3 }] },
    );
    const img = whole(s);
    for (let i = 0; i < img.length; i += 3)
      expect([img[i], img[i + 1], img[i + 2]]).toEqual([4, 4, 3]);
  });

  it("a diffuse convex object under a uniform white sky reflects exactly its albedo (white furnace)", () => {
    const s = spec(
      { width: 9, height: 9 },
      {
        sky: { top: [1, 1, 1], bottom: [1, 1, 1] },
        spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
        planes: [],
        meshes: [],
      },
    );
    const img = whole(s);
    const centre = (4 * 9 + 4) * 3;
    expect(Array.from(img.subarray(centre, centre + 3))).toEqual([0.7, 0.3, 0.2].map(Math.fround));
    expect(Array.from(img.subarray(0, 3))).toEqual([1, 1, 1]);
  });

  it("tiles of the plan assembled equal one full render, bit for bit", () => {
    const s = spec({ width: 70, height: 66, samples_per_pixel: 3 });
    const parts = planTasks(s, "job_test").map((t) => {
      if (t.kind !== "render") throw new Error("render plan made a non-render task");
      return {
        tile: t.tile,
        samples: t.samples,
        pixels: renderTile(s, {
          ...t.tile,
          sampleStart: t.samples.start,
          sampleCount: t.samples.count,
        }),
      };
    });
    expect(parts.length).toBe(4);
    expect(assembleTiles(s.width, s.height, parts)).toEqual(whole(s));
  });

  it("sample blocks averaged by weight match the full render within rounding", () => {
    const s = spec({ width: 8, height: 8, samples_per_pixel: 10 });
    const block = (start: number, count: number) => ({
      tile: { x: 0, y: 0, width: 8, height: 8 },
      samples: { count },
      pixels: renderTile(s, {
        x: 0,
        y: 0,
        width: 8,
        height: 8,
        sampleStart: start,
        sampleCount: count,
      }),
    });
    const assembled = assembleTiles(8, 8, [block(0, 3), block(3, 7)]);
    const full = whole(s);
    for (let i = 0; i < full.length; i++) expect(assembled[i]).toBeCloseTo(full[i] ?? 0, 5);
  });

  it("agrees with itself under float noise of another GPU (tolerance), not under another sample range", () => {
    const s = spec({ width: 32, height: 32 });
    const a = whole(s);
    const noisy = a.map((v, i) => v * (1 + (i % 7 === 0 ? 3e-6 : -2e-6)));
    expect(compareRenderTile(a, noisy)).toMatchObject({ ok: true, mismatched: 0 });
    const other = renderTile(s, {
      x: 0,
      y: 0,
      width: 32,
      height: 32,
      sampleStart: 1,
      sampleCount: 7,
    });
    expect(compareRenderTile(a, other).ok).toBe(false);
  });

  it("passes the comparator when the geometry moves by float rounding (a GPU's f32 error)", () => {
    // Moving the camera by 1e-6 relative perturbs every ray, hit point and bounce the way f32
    // rounding does; paths that branch differently must stay under the 1% pixel allowance.
    const at = (y: number) =>
      spec({ width: 48, height: 32 }, { camera: { position: [0, y, 1], look_at: [0, 0, -4] } });
    const result = compareRenderTile(whole(at(0.5)), whole(at(0.5 * (1 + 1e-6))));
    expect(result.ok).toBe(true);
    expect(result.mismatched).toBeLessThanOrEqual(2);
  });

  it("refuses a tile outside the image", () => {
    const s = spec();
    expect(() =>
      renderTile(s, { x: 20, y: 0, width: 8, height: 1, sampleStart: 0, sampleCount: 1 }),
    ).toThrow(RangeError);
    expect(() =>
      renderTile(s, { x: 0, y: 0, width: 1, height: 1, sampleStart: 4, sampleCount: 8 }),
    ).toThrow(RangeError);
  });
});
