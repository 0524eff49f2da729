import { RenderSpec } from "../../../protocol/jobs.ts";
import type { RenderTask } from "../../../protocol/tasks.ts";
import { compareRenderTile } from "../../kernels/compare.ts";
import { createInferenceKernel } from "../../kernels/gpu/inference.ts";
import { createRenderKernel } from "../../kernels/gpu/render.ts";
import { type QuantLayer, type QuantMatrix, runInference } from "../../kernels/inference.ts";
import { renderTile } from "../../kernels/render.ts";

/**
 * The GPU kernels against their CPU references, on random inputs, in whatever browser loads
 * this module (`/build/kernel-check.js`): "does this GPU compute what the network expects, and
 * how fast?" The browser suite runs it in Chromium; `npm run bench -- kernels` reads its timings.
 */
export interface KernelReport {
  adapter: string;
  packedDot: boolean;
  render: {
    tiles: number;
    passed: number;
    worst: { mismatched: number; allowed: number };
    gpuSamplesPerSecond: number;
    cpuSamplesPerSecond: number;
  };
  inference: {
    models: number;
    packedEqual: number;
    plainEqual: number;
    gpuMacsPerSecond: number;
    cpuMacsPerSecond: number;
  };
}

/** A small deterministic PRNG (mulberry32), so a seed names a whole run. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomScene(r: () => number, size: number, spp: number) {
  const materials = [
    { type: "diffuse", albedo: [r(), r(), r()] },
    { type: "metal", albedo: [r(), r(), r()], fuzz: r() * 0.3 },
    { type: "glass", ior: 1.3 + r() * 0.4 },
    { type: "emissive", radiance: [2 + r() * 3, 2 + r() * 3, 2 + r() * 3] },
    { type: "diffuse", albedo: [0.6, 0.6, 0.6] },
  ];
  const spheres = Array.from({ length: 4 + Math.floor(r() * 4) }, () => ({
    center: [r() * 4 - 2, 0.3 + r() * 1.2, -1 - r() * 3],
    radius: 0.2 + r() * 0.5,
    material: Math.floor(r() * 4),
  }));
  // A few triangles so the mesh path (and its BVH) is exercised.
  const positions: number[][] = [];
  const triangles: number[][] = [];
  for (let i = 0; i < 6; i++) {
    const x = r() * 3 - 1.5;
    const z = -2 - r() * 2;
    positions.push([x, 0.1, z], [x + 0.5, 0.1, z], [x + 0.25, 0.8, z - 0.2]);
    triangles.push([3 * i, 3 * i + 1, 3 * i + 2]);
  }
  return RenderSpec.parse({
    kind: "render",
    width: size,
    height: size,
    samples_per_pixel: spp,
    max_bounces: 4,
    seed: Math.floor(r() * 1e9),
    scene: {
      camera: { position: [0, 1, 3], look_at: [0, 0.5, -2], vfov: 50 },
      sky: { top: [0.8, 0.9, 1], bottom: [0.1, 0.1, 0.1] },
      materials,
      spheres,
      planes: [{ point: [0, 0, 0], normal: [0, 1, 0], material: 4 }],
      meshes: [{ positions, triangles, material: 0 }],
    },
  });
}

function randomModel(r: () => number, rows: number): { layers: QuantLayer[]; input: QuantMatrix } {
  const widths = [8 + Math.floor(r() * 120), 5 + Math.floor(r() * 60), 3 + Math.floor(r() * 20)];
  const cols = 5 + Math.floor(r() * 200);
  const int8 = (n: number) => Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128);
  let inputs = cols;
  const layers = widths.map((outputs, k): QuantLayer => {
    const layer: QuantLayer = {
      inputs,
      outputs,
      weights: int8(outputs * inputs),
      biases: Int32Array.from({ length: outputs }, () => Math.floor(r() * 20000) - 10000),
      activation: k < widths.length - 1 && r() < 0.7 ? "relu" : "none",
      requant: {
        multiplier: 1 + Math.floor(r() * 0x7ffffffe),
        shift: 30 + Math.floor(r() * 16),
        zero_point: Math.floor(r() * 40) - 20,
      },
    };
    inputs = outputs;
    return layer;
  });
  return {
    layers,
    input: { rows, cols, data: int8(rows * cols), zeroPoint: Math.floor(r() * 20) - 10 },
  };
}

export async function checkKernels(seed = 1): Promise<KernelReport> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const device = await adapter.requestDevice();
  const packedDot =
    navigator.gpu.wgslLanguageFeatures?.has("packed_4x8_integer_dot_product") ?? false;
  const r = random(seed);
  try {
    // Render: random scenes, edge tiles and offset sample blocks.
    const render = await createRenderKernel(device);
    let passed = 0;
    let worst = { mismatched: 0, allowed: 0 };
    let gpuMs = 0;
    let cpuMs = 0;
    let samples = 0;
    const tiles = 4;
    for (let i = 0; i < tiles; i++) {
      const spec = randomScene(r, 24 + Math.floor(r() * 24), 8);
      const task: RenderTask = {
        job_id: "job_check",
        task_index: i,
        kind: "render",
        tile: { x: 0, y: 0, width: spec.width, height: spec.height - (i % 2) * 5 },
        samples: { start: i % 2 ? 3 : 0, count: 5 },
      };
      let t = performance.now();
      const gpu = await render.run(spec, task);
      gpuMs += performance.now() - t;
      t = performance.now();
      const cpu = renderTile(spec, {
        ...task.tile,
        sampleStart: task.samples.start,
        sampleCount: task.samples.count,
      });
      cpuMs += performance.now() - t;
      samples += task.tile.width * task.tile.height * task.samples.count;
      const c = compareRenderTile(gpu, cpu);
      if (c.ok) passed++;
      const allowed = Math.floor(c.total * 0.01);
      if (c.mismatched >= worst.mismatched) worst = { mismatched: c.mismatched, allowed };
    }
    render.destroy();

    // Inference: random int8 models, bit for bit, with and without the packed dot product.
    const kernels = [
      createInferenceKernel(device, { packedDot: false }),
      ...(packedDot ? [createInferenceKernel(device, { packedDot: true })] : []),
    ];
    let plainEqual = 0;
    let packedEqual = 0;
    let gpuInfMs = 0;
    let cpuInfMs = 0;
    let macs = 0;
    const models = 4;
    for (let m = 0; m < models; m++) {
      const { layers, input } = randomModel(r, 64 + Math.floor(r() * 64));
      const rows = { start: 3, count: input.rows - 3 };
      let t = performance.now();
      const expected = runInference(layers, input, rows);
      cpuInfMs += performance.now() - t;
      for (const [k, kernel] of kernels.entries()) {
        t = performance.now();
        const got = await kernel.run(layers, input, rows);
        if (k === kernels.length - 1) gpuInfMs += performance.now() - t;
        const equal = got.length === expected.length && got.every((v, i) => v === expected[i]);
        if (equal && k === 0) plainEqual++;
        if (equal && k === 1) packedEqual++;
      }
      macs += rows.count * layers.reduce((n, l) => n + l.inputs * l.outputs, 0);
    }
    for (const k of kernels) k.destroy();
    return {
      adapter:
        `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim(),
      packedDot,
      render: {
        tiles,
        passed,
        worst,
        gpuSamplesPerSecond: samples / (gpuMs / 1000),
        cpuSamplesPerSecond: samples / (cpuMs / 1000),
      },
      inference: {
        models,
        packedEqual,
        plainEqual,
        gpuMacsPerSecond: macs / (gpuInfMs / 1000),
        cpuMacsPerSecond: macs / (cpuInfMs / 1000),
      },
    };
  } finally {
    device.destroy();
  }
}
