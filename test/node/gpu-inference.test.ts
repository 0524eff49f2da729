import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInferenceKernel } from "../../client/kernels/gpu/inference.ts";
import { DeviceLostError } from "../../client/kernels/gpu/wgsl.ts";
import { type QuantLayer, type QuantMatrix, runInference } from "../../client/kernels/inference.ts";
import { type NodeGpu, nodeGpu } from "../../client/node/gpu.ts";
import type { Requant } from "../../protocol/jobs.ts";

// The GPU inference kernel against the CPU reference, byte for byte, on Dawn (SwiftShader here).

let device: GPUDevice;
let packedAvailable = false;
// Dawn crashes the process if its instance (`gpu.gpu`) is collected while a device lives: keep it.
let gpu: NodeGpu;
beforeAll(async () => {
  gpu = await nodeGpu();
  packedAvailable = gpu.wgslFeatures.has("packed_4x8_integer_dot_product");
  device = await gpu.adapter.requestDevice();
});
afterAll(() => device?.destroy());

/** mulberry32: a seeded stream so a failure replays. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: <T>(xs: readonly T[]) => xs[int(0, xs.length - 1)] as T };
}
type Rng = ReturnType<typeof rng>;

function matrix(r: Rng, rows: number, cols: number, zeroPoint: number): QuantMatrix {
  return {
    rows,
    cols,
    zeroPoint,
    data: Int8Array.from({ length: rows * cols }, () => r.int(-128, 127)),
  };
}

/**
 * A layer whose requantization keeps typical outputs inside int8 (multiplier / 2^shift ≈ 1 / the
 * accumulator's spread), so the test sees real values, not only saturation; `requant` overrides.
 */
function layer(r: Rng, inputs: number, outputs: number, requant?: Partial<Requant>): QuantLayer {
  const spread = Math.ceil(Math.log2(128 * 128 * Math.sqrt(inputs)));
  const shift = r.int(spread, spread + 24);
  const multiplier = r.int(2 ** (shift - spread + 2), 2 ** (shift - spread + 4));
  return {
    inputs,
    outputs,
    weights: Int8Array.from({ length: inputs * outputs }, () => r.int(-128, 127)),
    biases: Int32Array.from({ length: outputs }, () => r.int(-50_000, 50_000)),
    activation: r.pick(["none", "relu"] as const),
    requant: {
      multiplier: Math.min(multiplier, 0x7fff_ffff),
      shift,
      zero_point: r.int(-60, 60),
      ...requant,
    },
  };
}

function model(r: Rng, cols: number, widths: number[]): QuantLayer[] {
  let inputs = cols;
  return widths.map((outputs) => {
    const l = layer(r, inputs, outputs);
    inputs = outputs;
    return l;
  });
}

const modes = [
  { packedDot: true, name: "dot4I8Packed" },
  { packedDot: false, name: "i32 fallback" },
];

describe.each(modes)("GPU inference ($name)", ({ packedDot }) => {
  const skip = () => packedDot && !packedAvailable;

  it("matches runInference on random models of odd widths, relu and none", async (ctx) => {
    if (skip()) ctx.skip();
    const kernel = createInferenceKernel(device, { packedDot });
    const r = rng(packedDot ? 1 : 2);
    const seen = new Set<number>();
    for (const [cols, widths, rows] of [
      [13, [7, 1, 33, 5], 9],
      [64, [32, 10], 40],
      [3, [130, 2, 77], 17],
      [257, [255], 3],
    ] as const) {
      const layers = model(r, cols, [...widths]);
      const input = matrix(r, rows, cols, r.int(-128, 127));
      const gpu = await kernel.run(layers, input, { start: 0, count: rows });
      const cpu = runInference(layers, input, { start: 0, count: rows });
      expect(gpu).toEqual(cpu);
      for (const v of cpu) seen.add(v);
    }
    // Not everything saturated: the comparison saw real values.
    expect(seen.size).toBeGreaterThan(40);
    kernel.destroy();
  });

  it("runs a row range that does not start at 0", async (ctx) => {
    if (skip()) ctx.skip();
    const kernel = createInferenceKernel(device, { packedDot });
    const r = rng(3);
    const layers = model(r, 21, [19, 6]);
    const input = matrix(r, 50, 21, -7);
    for (const rows of [
      { start: 17, count: 20 },
      { start: 49, count: 1 },
      { start: 0, count: 50 },
    ])
      expect(await kernel.run(layers, input, rows)).toEqual(runInference(layers, input, rows));
    kernel.destroy();
  });

  it("requantizes exactly: shifts 0..62, extreme accumulators and multipliers, wrapping sums", async (ctx) => {
    if (skip()) ctx.skip();
    const kernel = createInferenceKernel(device, { packedDot });
    // One input with weight 0 makes acc = bias exactly: the biases are the accumulators to test.
    const accs = [
      0,
      1,
      -1,
      2,
      -2,
      3,
      -3,
      127,
      -128,
      255,
      -256,
      256,
      -257,
      65_535,
      -65_536,
      1 << 20,
      -(1 << 20),
      0x7fff_ffff,
      -0x8000_0000,
      0x7fff_fffe,
      -0x7fff_ffff,
      123_456_789,
      -987_654_321,
    ];
    const input: QuantMatrix = { rows: 2, cols: 1, zeroPoint: 0, data: Int8Array.from([5, -9]) };
    for (const multiplier of [1, 2, 3, 0x4000_0000, 0x7fff_ffff, 1_518_500_250])
      for (const shift of [0, 1, 2, 7, 15, 16, 30, 31, 32, 33, 34, 47, 61, 62])
        for (const activation of ["none", "relu"] as const) {
          const layers: QuantLayer[] = [
            {
              inputs: 1,
              outputs: accs.length,
              weights: new Int8Array(accs.length),
              biases: Int32Array.from(accs),
              activation,
              requant: { multiplier, shift, zero_point: shift % 2 ? -3 : 11 },
            },
          ];
          const rows = { start: 0, count: 2 };
          const gpu = await kernel.run(layers, input, rows);
          expect(gpu, `multiplier ${multiplier} shift ${shift} ${activation}`).toEqual(
            runInference(layers, input, rows),
          );
        }
    // Sums that wrap int32: biases at the edge, large weights, x far from its zero point.
    const r = rng(4);
    const wrap: QuantLayer = {
      ...layer(r, 9, 6, { multiplier: 1, shift: 0, zero_point: 0 }),
      weights: Int8Array.from({ length: 54 }, (_, i) => (i % 2 ? 127 : -128)),
      biases: Int32Array.from([0x7fff_ffff, -0x8000_0000, 0x7fff_ff00, -0x7fff_ff00, 5, -5]),
      activation: "none",
    };
    const far: QuantMatrix = {
      rows: 3,
      cols: 9,
      zeroPoint: -128,
      data: new Int8Array(27).fill(127),
    };
    far.data.set([-128, 0, 1, 127, -1, 64, -64, 100, -100], 18);
    const rows = { start: 0, count: 3 };
    expect(await kernel.run([wrap], far, rows)).toEqual(runInference([wrap], far, rows));
    kernel.destroy();
  });

  it("tiles rows and layer outputs when bindings are small, with the same bytes", async (ctx) => {
    if (skip()) ctx.skip();
    // 1 KiB bindings: 40-column rows of 64 outputs need several weight slices and row chunks.
    const kernel = createInferenceKernel(device, { packedDot, maxBindingBytes: 1024 });
    const r = rng(5);
    const layers = model(r, 40, [64, 9, 50]);
    const input = matrix(r, 70, 40, 12);
    const rows = { start: 3, count: 61 };
    expect(await kernel.run(layers, input, rows)).toEqual(runInference(layers, input, rows));
    kernel.destroy();
  });
});

describe("GPU inference kernel", () => {
  it("keeps a model uploaded under its key (a job's tasks upload the weights once)", async () => {
    const kernel = createInferenceKernel(device, { packedDot: false });
    const r = rng(6);
    const layers = model(r, 8, [8]);
    const input = matrix(r, 4, 8, 0);
    const rows = { start: 0, count: 4 };
    const first = await kernel.run(layers, input, rows, "job-1");
    // Another object under the same key is the same model: its (different) weights are not read.
    const other = model(r, 8, [8]);
    expect(await kernel.run(other, input, rows, "job-1")).toEqual(first);
    expect(await kernel.run(other, input, rows, "job-2")).toEqual(runInference(other, input, rows));
    kernel.destroy();
  });

  it("refuses shapes runInference refuses", async () => {
    const kernel = createInferenceKernel(device, { packedDot: false });
    const r = rng(7);
    const layers = model(r, 8, [4]);
    const input = matrix(r, 4, 8, 0);
    await expect(kernel.run(layers, input, { start: 2, count: 3 })).rejects.toThrow(RangeError);
    await expect(kernel.run(model(r, 5, [4]), input, { start: 0, count: 1 })).rejects.toThrow(
      "a layer takes 5 inputs, gets 8",
    );
    // The kernel still works after a refusal.
    const rows = { start: 1, count: 3 };
    expect(await kernel.run(layers, input, rows)).toEqual(runInference(layers, input, rows));
    kernel.destroy();
  });

  it("reports a lost device as DeviceLostError, so the caller makes a new one", async () => {
    const other = await ((await gpu.gpu.requestAdapter()) as GPUAdapter).requestDevice();
    const kernel = createInferenceKernel(other, { packedDot: false });
    const r = rng(8);
    const layers = model(r, 8, [4]);
    const input = matrix(r, 4, 8, 0);
    const rows = { start: 0, count: 4 };
    expect(await kernel.run(layers, input, rows)).toEqual(runInference(layers, input, rows));
    other.destroy();
    await expect(kernel.run(layers, input, rows)).rejects.toThrow(DeviceLostError);
  });
});
