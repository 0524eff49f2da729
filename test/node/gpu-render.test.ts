import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Comparison, compareRenderTile } from "../../client/kernels/compare.ts";
import { createRenderKernel, type RenderKernel } from "../../client/kernels/gpu/render.ts";
import { planTasks } from "../../client/kernels/plan.ts";
import { renderTile } from "../../client/kernels/render.ts";
import { nodeGpu } from "../../client/node/gpu.ts";
import { RenderSpec, type RenderTask } from "../../protocol/jobs.ts";

// The WGSL path tracer against the CPU reference, under the comparator the server uses between
// replicas. Dawn runs on SwiftShader here (a CPU), so tiles and sample counts are small; the
// scenes are chosen so every branch of the kernel is taken (every material, a BVH over a few
// thousand triangles, edge tiles, sample blocks past 0, long paths through glass and mirrors).

type V3 = [number, number, number];

const sky = { top: [0.9, 0.95, 1], bottom: [0.25, 0.15, 0.08] };

/** Spheres and a plane with every material: diffuse, fuzzy and mirror metal, glass, emissive. */
function materialsSpec(overrides: Record<string, unknown> = {}): RenderSpec {
  return RenderSpec.parse({
    kind: "render",
    width: 70,
    height: 50,
    samples_per_pixel: 16,
    max_bounces: 8,
    seed: 1234,
    scene: {
      camera: { position: [0, 0.6, 1.5], look_at: [0, 0, -4], vfov: 55 },
      sky,
      materials: [
        { type: "diffuse", albedo: [0.75, 0.35, 0.2] },
        { type: "metal", albedo: [0.9, 0.85, 0.8], fuzz: 0.25 },
        { type: "glass", ior: 1.5 },
        { type: "emissive", radiance: [6, 5, 3] },
        { type: "metal", albedo: [0.95, 0.95, 0.95], fuzz: 0 },
        { type: "diffuse", albedo: [0.4, 0.6, 0.4] },
      ],
      spheres: [
        { center: [-1.3, 0, -4], radius: 1, material: 0 },
        { center: [0.9, -0.2, -3], radius: 0.8, material: 2 },
        { center: [0, 2.2, -5], radius: 0.7, material: 3 },
        { center: [2.4, 0.2, -5], radius: 1.2, material: 1 },
        { center: [-0.2, -0.6, -2.2], radius: 0.4, material: 4 },
      ],
      planes: [
        { point: [0, -1, 0], normal: [0, 1, 0], material: 5 },
        { point: [0, 0, -9], normal: [0, 0.2, 1], material: 4 },
      ],
    },
    ...overrides,
  });
}

/** A unit icosphere subdivided `levels` times: 20·4^levels triangles. */
function icosphere(center: V3, radius: number, levels: number) {
  const t = (1 + Math.sqrt(5)) / 2;
  const unit: V3[] = [];
  const add = (v: V3) => {
    const l = Math.hypot(...v);
    unit.push([v[0] / l, v[1] / l, v[2] / l]);
    return unit.length - 1;
  };
  for (const [a, b] of [
    [-1, t],
    [1, t],
    [-1, -t],
    [1, -t],
  ] as const) {
    add([a, b, 0]);
  }
  for (const [a, b] of [
    [-1, t],
    [1, t],
    [-1, -t],
    [1, -t],
  ] as const) {
    add([0, a, b]);
  }
  for (const [a, b] of [
    [-1, t],
    [1, t],
    [-1, -t],
    [1, -t],
  ] as const) {
    add([b, 0, a]);
  }
  let faces: V3[] = [
    [0, 11, 5],
    [0, 5, 1],
    [0, 1, 7],
    [0, 7, 10],
    [0, 10, 11],
    [1, 5, 9],
    [5, 11, 4],
    [11, 10, 2],
    [10, 7, 6],
    [7, 1, 8],
    [3, 9, 4],
    [3, 4, 2],
    [3, 2, 6],
    [3, 6, 8],
    [3, 8, 9],
    [4, 9, 5],
    [2, 4, 11],
    [6, 2, 10],
    [8, 6, 7],
    [9, 8, 1],
  ];
  for (let l = 0; l < levels; l++) {
    const mid = new Map<string, number>();
    const m = (a: number, b: number) => {
      const key = a < b ? `${a},${b}` : `${b},${a}`;
      let i = mid.get(key);
      if (i === undefined) {
        const p = unit[a] as V3;
        const q = unit[b] as V3;
        i = add([p[0] + q[0], p[1] + q[1], p[2] + q[2]]);
        mid.set(key, i);
      }
      return i;
    };
    faces = faces.flatMap(([a, b, c]) => {
      const ab = m(a, b);
      const bc = m(b, c);
      const ca = m(c, a);
      return [
        [a, ab, ca],
        [b, bc, ab],
        [c, ca, bc],
        [ab, bc, ca],
      ] as V3[];
    });
  }
  const positions = unit.map(
    (v) => [center[0] + radius * v[0], center[1] + radius * v[1], center[2] + radius * v[2]] as V3,
  );
  return { positions, triangles: faces };
}

/** An n × n grid of quads (two triangles each) at height y over [x0, x1] × [z0, z1]. */
function grid(n: number, y: number, x0: number, x1: number, z0: number, z1: number) {
  const positions: V3[] = [];
  for (let j = 0; j <= n; j++)
    for (let i = 0; i <= n; i++)
      positions.push([x0 + ((x1 - x0) * i) / n, y, z0 + ((z1 - z0) * j) / n]);
  const triangles: V3[] = [];
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++) {
      const a = j * (n + 1) + i;
      triangles.push([a, a + 1, a + n + 2], [a, a + n + 2, a + n + 1]);
    }
  return { positions, triangles };
}

/** 1280 + 320 icosphere triangles and a 24 × 24 quad floor: 2 752 triangles through the BVH. */
function meshSpec(): RenderSpec {
  return RenderSpec.parse({
    kind: "render",
    width: 48,
    height: 32,
    samples_per_pixel: 8,
    max_bounces: 6,
    seed: 99,
    scene: {
      camera: { position: [0, 1, 2], look_at: [0, 0, -3], vfov: 50 },
      sky,
      materials: [
        { type: "diffuse", albedo: [0.6, 0.6, 0.65] },
        { type: "glass", ior: 1.45 },
        { type: "metal", albedo: [0.8, 0.6, 0.3], fuzz: 0.1 },
        { type: "emissive", radiance: [8, 8, 8] },
      ],
      spheres: [{ center: [0, 3, -4], radius: 0.5, material: 3 }],
      meshes: [
        { ...grid(24, -1, -5, 5, -9, 2), material: 0 },
        { ...icosphere([-0.8, -0.1, -3], 0.9, 3), material: 1 },
        { ...icosphere([1.1, -0.3, -3.6], 0.7, 2), material: 2 },
      ],
    },
  });
}

function task(tile: RenderTask["tile"], samples: RenderTask["samples"], index = 0): RenderTask {
  return { job_id: "gpu-render-test", task_index: index, kind: "render", tile, samples };
}

function reference(spec: RenderSpec, t: RenderTask): Float32Array {
  return renderTile(spec, {
    ...t.tile,
    sampleStart: t.samples.start,
    sampleCount: t.samples.count,
  });
}

let device: GPUDevice;
let kernel: RenderKernel;
/** What each comparison measured, printed once at the end (mismatched pixels vs the 1 %). */
const measured: string[] = [];

function agree(name: string, gpu: Float32Array, cpu: Float32Array): Comparison {
  const c = compareRenderTile(gpu, cpu);
  let worst = 0;
  for (let i = 0; i < gpu.length; i++)
    worst = Math.max(worst, Math.abs((gpu[i] as number) - (cpu[i] as number)));
  measured.push(
    `${name}: ${c.mismatched}/${c.total} pixels out of tolerance (allowed ${Math.floor(c.total * 0.01)}), max |Δ| ${worst.toExponential(2)}`,
  );
  return c;
}

beforeAll(async () => {
  const { adapter } = await nodeGpu();
  device = await adapter.requestDevice();
  kernel = await createRenderKernel(device);
});

afterAll(() => {
  console.info(`GPU vs CPU render agreement:\n  ${measured.join("\n  ")}`);
  kernel?.destroy();
  device?.destroy();
});

describe("GPU render kernel against the CPU reference", () => {
  it("agrees on spheres and planes with every material", async () => {
    const spec = materialsSpec();
    const t = task({ x: 20, y: 10, width: 32, height: 24 }, { start: 0, count: 16 });
    const c = agree("materials 32×24, 16 spp", await kernel.run(spec, t), reference(spec, t));
    expect(c.ok, c.reason).toBe(true);
  });

  it("agrees on long paths through glass and mirrors (12 bounces)", async () => {
    const spec = materialsSpec({ max_bounces: 12, seed: 77 });
    const t = task({ x: 30, y: 14, width: 24, height: 24 }, { start: 0, count: 8 });
    const c = agree("12 bounces 24×24, 8 spp", await kernel.run(spec, t), reference(spec, t));
    expect(c.ok, c.reason).toBe(true);
  });

  it("agrees on triangle meshes through the BVH", async () => {
    const spec = meshSpec();
    const t = task({ x: 8, y: 4, width: 32, height: 24 }, { start: 0, count: 8 });
    const c = agree("meshes 32×24, 8 spp", await kernel.run(spec, t), reference(spec, t));
    expect(c.ok, c.reason).toBe(true);
  });

  it("agrees on the planner's edge tiles and on a sample block not starting at 0", async () => {
    // 70 × 50 with 64-pixel tiles: the right column is 6 wide; 300 spp in blocks of 256 makes
    // the second block start at sample 256.
    const spec = materialsSpec({ samples_per_pixel: 300 });
    const tasks = planTasks(spec, "edge").filter((t) => t.kind === "render");
    const edge = tasks.find((t) => t.tile.x === 64 && t.samples.start === 256);
    expect(edge?.tile).toEqual({ x: 64, y: 0, width: 6, height: 50 });
    expect(edge?.samples).toEqual({ start: 256, count: 44 });
    const t = edge as RenderTask;
    const c = agree(
      "edge tile 6×50, samples 256..300",
      await kernel.run(spec, t),
      reference(spec, t),
    );
    expect(c.ok, c.reason).toBe(true);

    const corner = task({ x: 61, y: 43, width: 9, height: 7 }, { start: 5, count: 3 });
    const c2 = agree(
      "corner 9×7, samples 5..8",
      await kernel.run(spec, corner),
      reference(spec, corner),
    );
    expect(c2.ok, c2.reason).toBe(true);
  });

  it("splits a task into many dispatches and bands without changing the result", async () => {
    // A budget this small gives one sample per dispatch and bands of a few rows, so the
    // accumulation across dispatches and the clearing between bands are exercised.
    const small = await createRenderKernel(device, { testsPerDispatch: 20_000 });
    try {
      const spec = materialsSpec({ seed: 5 });
      const t = task({ x: 0, y: 20, width: 40, height: 20 }, { start: 3, count: 6 });
      const split = await small.run(spec, t);
      const whole = await kernel.run(spec, t);
      const c = agree("split 40×20, samples 3..9", split, reference(spec, t));
      expect(c.ok, c.reason).toBe(true);
      // Same sums in a different association: equal to f32 rounding.
      for (let i = 0; i < split.length; i++) expect(split[i]).toBeCloseTo(whole[i] as number, 5);
    } finally {
      small.destroy();
    }
  });

  it("breaks exact ties as the reference does: the earlier primitive wins", async () => {
    // The same 8 × 8 grid of quads twice, red then green: the reference shows red wherever the
    // floor is seen. The BVH interleaves the copies' triangles in its leaves, so the shader only
    // gets this right by comparing reference indices, not by the order it meets the triangles.
    const floor = grid(8, -1, -4, 4, -4, 4);
    const spec = RenderSpec.parse({
      kind: "render",
      width: 16,
      height: 16,
      samples_per_pixel: 2,
      scene: {
        camera: { position: [0, 2, 0], look_at: [0, -1, 0], up: [0, 0, -1] },
        sky,
        materials: [
          { type: "emissive", radiance: [1, 0, 0] },
          { type: "emissive", radiance: [0, 1, 0] },
        ],
        meshes: [
          { ...floor, material: 0 },
          { ...floor, material: 1 },
        ],
      },
    });
    const t = task({ x: 0, y: 0, width: 16, height: 16 }, { start: 0, count: 2 });
    const gpu = await kernel.run(spec, t);
    const c = agree("coincident grids 16×16", gpu, reference(spec, t));
    expect(c.ok, c.reason).toBe(true);
    expect(gpu[8 * 16 * 3 + 8 * 3]).toBe(1);
  });

  it("has teeth: a wrong seed or sample range fails the comparator", async () => {
    const spec = materialsSpec();
    const t = task({ x: 20, y: 10, width: 32, height: 24 }, { start: 0, count: 16 });
    const cpu = reference(spec, t);
    const wrongSeed = compareRenderTile(
      await kernel.run(materialsSpec({ seed: spec.seed + 1 }), t),
      cpu,
    );
    expect(wrongSeed.ok).toBe(false);
    expect(wrongSeed.mismatched).toBeGreaterThan(wrongSeed.total / 2);
    const shifted = compareRenderTile(
      await kernel.run(spec, task(t.tile, { start: 1, count: 15 })),
      cpu,
    );
    expect(shifted.ok).toBe(false);
  });

  it("uploads a job's scene once and frees each task's buffers", async () => {
    const created: { label: string; destroyed: boolean }[] = [];
    const createBuffer = device.createBuffer.bind(device);
    const counting = new Proxy(device, {
      get(target, key) {
        if (key === "createBuffer")
          return (d: GPUBufferDescriptor) => {
            const buffer = createBuffer(d);
            const record = { label: d.label ?? "", destroyed: false };
            created.push(record);
            const destroy = buffer.destroy.bind(buffer);
            buffer.destroy = () => {
              record.destroyed = true;
              destroy();
            };
            return buffer;
          };
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const k = await createRenderKernel(counting);
    const t = task({ x: 0, y: 0, width: 8, height: 8 }, { start: 0, count: 1 });
    // Every task frame carries its own parse of the job spec: equal scenes, new objects.
    await k.run(materialsSpec(), t);
    await k.run(materialsSpec(), t);
    await k.run(materialsSpec(), task(t.tile, t.samples, 1));
    const uploads = () => created.filter((b) => b.label === "render primitives").length;
    expect(uploads()).toBe(1);
    const perTask = created.filter((b) => /params|accum|readback/.test(b.label));
    expect(perTask.length).toBe(9);
    expect(perTask.every((b) => b.destroyed)).toBe(true);
    await k.run(meshSpec(), t);
    expect(uploads()).toBe(2);
    k.destroy();
    expect(created.every((b) => b.destroyed)).toBe(true);
  });
});
