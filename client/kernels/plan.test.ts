import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JobSpec } from "../../protocol/jobs.ts";
import { micros } from "../../protocol/money.ts";
import { compareF32, compareOutputs } from "./compare.ts";
import { planTasks, quote, RENDER_SAMPLE_BLOCK, taskCount, workUnits } from "./plan.ts";

const cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const scene = {
  camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
  sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
  materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
  spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
};
const render = (width: number, height: number, spp: number) =>
  JobSpec.parse({ kind: "render", width, height, samples_per_pixel: spp, scene });
const inference = (rows: number, widths: number[]) =>
  JobSpec.parse({
    kind: "inference",
    input: { cid, rows, cols: widths[0] },
    layers: widths.slice(1).map((outputs) => ({
      weights: cid,
      biases: cid,
      outputs,
      requant: { multiplier: 1, shift: 0 },
    })),
  });
const wgsl = (dispatches: number[][], extra: Record<string, unknown> = {}) =>
  JobSpec.parse({
    kind: "wgsl",
    source: "@compute @workgroup_size(64) fn main() {}",
    entry_point: "main",
    outputs: [{ binding: 0, size: 16 }],
    dispatches: dispatches.map((workgroups) => ({ workgroups })),
    ...extra,
  });
const prices = {
  unit_price: { render: micros(3), inference: micros(2), wgsl: micros(5) },
  platform_fee_bps: 1000,
};

describe("planTasks", () => {
  it("covers every pixel-sample of a render exactly once", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 600 }),
        (w, h, spp) => {
          const spec = render(w, h, spp);
          const tasks = planTasks(spec, "job_x");
          const seen = new Uint16Array(w * h);
          tasks.forEach((t, i) => {
            if (t.kind !== "render") throw new Error("not a render task");
            expect(t.task_index).toBe(i);
            expect(t.samples.count).toBeLessThanOrEqual(RENDER_SAMPLE_BLOCK);
            for (let y = t.tile.y; y < t.tile.y + t.tile.height; y++)
              for (let x = t.tile.x; x < t.tile.x + t.tile.width; x++)
                seen[y * w + x] = (seen[y * w + x] ?? 0) + t.samples.count;
          });
          expect(seen.every((n) => n === spp)).toBe(true);
          expect(tasks.length).toBe(taskCount(spec));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("covers every inference row exactly once, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65_536 }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 2, maxLength: 4 }),
        (rows, widths) => {
          const spec = inference(rows, widths);
          const tasks = planTasks(spec, "job_x");
          let next = 0;
          for (const t of tasks) {
            if (t.kind !== "inference") throw new Error("not an inference task");
            expect(t.rows.start).toBe(next);
            next += t.rows.count;
          }
          expect(next).toBe(rows);
          expect(tasks.length).toBe(taskCount(spec));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("makes one wgsl task per dispatch entry", () => {
    const tasks = planTasks(wgsl([[4], [2, 3, 1]]), "job_x");
    expect(tasks).toEqual([
      {
        job_id: "job_x",
        task_index: 0,
        kind: "wgsl",
        dispatch: { index: 0, workgroups: [4, 1, 1], params: [] },
      },
      {
        job_id: "job_x",
        task_index: 1,
        kind: "wgsl",
        dispatch: { index: 1, workgroups: [2, 3, 1], params: [] },
      },
    ]);
  });
});

describe("workUnits and quote", () => {
  it("follows the stated cost model", () => {
    // 640·100·10 samples · (64 + 1 sphere) / 640 000 = 65
    expect(workUnits(render(640, 100, 10))).toBe(65);
    // 1000 rows · (100·200 + 200·10) MACs / 1e6 = 22
    expect(workUnits(inference(1000, [100, 200, 10]))).toBe(22);
    // (4 + 6) workgroups · 250 milli-units / 1000 = 2.5 → 3
    expect(workUnits(wgsl([[4], [2, 3, 1]], { workgroup_cost_milli: 250 }))).toBe(3);
    expect(workUnits(render(1, 1, 1))).toBe(1);
  });

  it("prices work × unit price × replication plus a fee rounded up", () => {
    expect(quote(inference(1000, [100, 200, 10]), prices)).toEqual({
      kind: "inference",
      work_units: 22,
      unit_price: 2,
      replication: 2,
      tasks: 1,
      compute_cost: 88,
      platform_fee_bps: 1000,
      platform_fee: 9, // 8.8 rounded up
      total: 97,
    });
  });

  it("is integer and deterministic for any valid render", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 256 }),
        fc.integer({ min: 0, max: 10_000 }),
        (w, h, spp, bps) => {
          const spec = render(w, h, spp);
          const q = quote(spec, { ...prices, platform_fee_bps: bps });
          for (const v of [q.work_units, q.compute_cost, q.platform_fee, q.total])
            expect(Number.isSafeInteger(v)).toBe(true);
          expect(q.total).toBe(q.compute_cost + q.platform_fee);
          expect(q.platform_fee * 10_000).toBeGreaterThanOrEqual(q.compute_cost * bps);
          expect(quote(spec, { ...prices, platform_fee_bps: bps })).toEqual(q);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("comparators", () => {
  const bytes = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
  it("inference and exact wgsl compare bytes", () => {
    expect(compareOutputs(inference(1, [1, 1]), Uint8Array.of(1, 2), Uint8Array.of(1, 2)).ok).toBe(
      true,
    );
    expect(compareOutputs(inference(1, [1, 1]), Uint8Array.of(1, 2), Uint8Array.of(1, 3)).ok).toBe(
      false,
    );
    expect(compareOutputs(wgsl([[1]]), bytes([1]), bytes([1.0000001])).ok).toBe(false);
  });
  it("f32 wgsl allows the stated relative tolerance, NaN = NaN, no more", () => {
    const spec = wgsl([[1]], { comparator: { type: "f32", rel_tol: 1e-4 } });
    expect(
      compareOutputs(spec, bytes([1, 100, Number.NaN, 0]), bytes([1.00005, 100.009, Number.NaN, 0]))
        .ok,
    ).toBe(true);
    expect(compareOutputs(spec, bytes([1, 100]), bytes([1.0002, 100])).ok).toBe(false);
    expect(compareOutputs(spec, bytes([1]), bytes([1, 2])).ok).toBe(false);
    expect(
      compareF32(
        Float32Array.of(Number.POSITIVE_INFINITY),
        Float32Array.of(Number.NEGATIVE_INFINITY),
        { rel_tol: 0.1, abs_tol: 0 },
      ).ok,
    ).toBe(false);
  });
  it("render tiles tolerate up to 1% stray pixels, no more, and no NaN", () => {
    const spec = render(10, 10, 1);
    const a = new Float32Array(300).fill(0.5);
    const one = a.slice();
    one[0] = 0.9;
    const two = one.slice();
    two[3] = 0.9;
    expect(
      compareOutputs(spec, new Uint8Array(a.buffer), new Uint8Array(one.buffer)),
    ).toMatchObject({ ok: true, mismatched: 1 });
    expect(
      compareOutputs(spec, new Uint8Array(a.buffer), new Uint8Array(two.buffer)),
    ).toMatchObject({ ok: false, mismatched: 2 });
    const nan = a.slice();
    nan[5] = Number.NaN;
    expect(compareOutputs(spec, new Uint8Array(nan.buffer), new Uint8Array(nan.buffer)).ok).toBe(
      false,
    );
  });
});
