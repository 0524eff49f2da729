import type { RenderSpec } from "../../../protocol/jobs.ts";
import type { Material, Scene } from "../../../protocol/scene.ts";
import type { RenderTask } from "../../../protocol/tasks.ts";
import { prepareScene } from "../render/intersect.ts";
import { add, cross, normalize, sub } from "../render/vec.ts";
import { BVH_MAX_DEPTH, buildBvh } from "./bvh.ts";
import { RENDER_WGSL } from "./render.wgsl.ts";

/**
 * The `render` kind on the GPU: the WGSL path tracer (`render.wgsl.ts`) over a BVH
 * (`bvh.ts`), returning what the CPU reference `renderTile` returns for the task's tile and
 * sample block, within `compareRenderTile`'s tolerance (f32 against float64; the random streams
 * are bit-identical). The scene is uploaded once and reused by every task of the job; each task
 * is split into dispatches small enough not to trip a GPU watchdog.
 *
 * Example: `const k = await createRenderKernel(device); const rgb = await k.run(spec, task);`
 */
export interface RenderKernel {
  /** The tile's linear RGB, 3 f32 a pixel, row-major, each the mean of the task's samples. */
  run(spec: RenderSpec, task: RenderTask): Promise<Float32Array>;
  /** Frees the cached scenes' buffers (the pipeline stays cached for the device). */
  destroy(): void;
}

export interface RenderKernelOptions {
  /**
   * Work per dispatch, in primitive tests (path segments × an estimate of the tests each takes).
   * The default keeps a dispatch to tens of milliseconds on a modest GPU, far from the 2 s
   * watchdogs of Windows (TDR) and browsers; tests lower it to force many dispatches.
   */
  testsPerDispatch?: number;
}

const DEFAULT_TESTS_PER_DISPATCH = 2 ** 25;
/** Scenes kept uploaded: a node usually works one job at a time, sometimes two. */
const SCENE_CACHE = 2;
const PRIM_BYTES = 64;
const MATERIAL_BYTES = 32;
const PARAMS_BYTES = 11 * 16;
/** Tile bytes per pixel in `accum` (3 f32). */
const PIXEL_BYTES = 12;
const WORKGROUP = 8;

const KIND = { sphere: 0, plane: 1, triangle: 2 } as const;
const MATERIAL_KIND = { diffuse: 0, metal: 1, glass: 2, emissive: 3 } as const;

const pipelines = new WeakMap<GPUDevice, Promise<GPUComputePipeline>>();

/** One compiled pipeline per device, shared by every kernel made for it. */
function pipelineFor(device: GPUDevice): Promise<GPUComputePipeline> {
  let pipeline = pipelines.get(device);
  if (!pipeline) {
    pipeline = device.createComputePipelineAsync({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: RENDER_WGSL }), entryPoint: "main" },
    });
    pipelines.set(device, pipeline);
    pipeline.catch(() => pipelines.delete(device));
  }
  return pipeline;
}

/** A scene's buffers on the device, shared by concurrent tasks of its job. */
interface SceneEntry {
  scene: Scene;
  /** The scene's JSON, computed when a task arrives with an equal scene in another object. */
  json: string | undefined;
  nodes: GPUBuffer;
  prims: GPUBuffer;
  materials: GPUBuffer;
  nodeCount: number;
  planeStart: number;
  planeCount: number;
  /** Estimated primitive tests per path segment. */
  segmentCost: number;
  users: number;
  evicted: boolean;
}

export async function createRenderKernel(
  device: GPUDevice,
  options: RenderKernelOptions = {},
): Promise<RenderKernel> {
  const pipeline = await pipelineFor(device);
  const budget = Math.max(1, options.testsPerDispatch ?? DEFAULT_TESTS_PER_DISPATCH);
  const scenes: SceneEntry[] = [];

  const release = (entry: SceneEntry) => {
    entry.users--;
    if (entry.evicted && entry.users === 0) destroyScene(entry);
  };

  /**
   * The job's uploaded scene: found by object identity, else by equal JSON (a contributor
   * parses the spec again for every task frame), else built and uploaded.
   */
  const acquire = (scene: Scene): SceneEntry => {
    let entry = scenes.find((e) => e.scene === scene);
    if (!entry) {
      const json = JSON.stringify(scene);
      entry = scenes.find((e) => {
        e.json ??= JSON.stringify(e.scene);
        return e.json === json;
      });
      if (entry) entry.scene = scene;
      else {
        entry = uploadScene(device, scene, json);
        scenes.unshift(entry);
        for (const old of scenes.splice(SCENE_CACHE)) {
          old.evicted = true;
          if (old.users === 0) destroyScene(old);
        }
      }
    }
    entry.users++;
    return entry;
  };

  return {
    async run(spec, task) {
      const { x, y, width, height } = task.tile;
      const { start, count } = task.samples;
      if (
        x + width > spec.width ||
        y + height > spec.height ||
        count < 1 ||
        start + count > spec.samples_per_pixel
      )
        throw new RangeError("tile lies outside the image or its samples");
      const entry = acquire(spec.scene);
      try {
        return await trace(device, pipeline, entry, spec, task, budget);
      } finally {
        release(entry);
      }
    },
    destroy() {
      for (const entry of scenes.splice(0)) {
        entry.evicted = true;
        if (entry.users === 0) destroyScene(entry);
      }
    },
  };
}

function destroyScene(entry: SceneEntry): void {
  entry.nodes.destroy();
  entry.prims.destroy();
  entry.materials.destroy();
}

/**
 * Packs the scene for the shader: spheres and triangles in BVH leaf order, then the planes
 * (tested linearly), each primitive carrying its reference index for tie-breaking. Geometry is
 * taken from the reference's own `prepareScene` (float64 normals and edges), rounded once to f32.
 */
function uploadScene(device: GPUDevice, scene: Scene, json: string): SceneEntry {
  const prepared = prepareScene(scene);
  const materialIndex = new Map<Material, number>();
  scene.materials.forEach((m, i) => {
    if (!materialIndex.has(m)) materialIndex.set(m, i);
  });
  const mat = (m: Material) => materialIndex.get(m) as number;
  const spheres = prepared.spheres.length;
  const planes = prepared.planes.length;
  const bounded = spheres + prepared.triangles.length;

  const boxes = new Float64Array(bounded * 6);
  prepared.spheres.forEach(({ center: [x, y, z], radius: r }, i) => {
    boxes.set([x - r, y - r, z - r, x + r, y + r, z + r], i * 6);
  });
  prepared.triangles.forEach((t, j) => {
    const v = [t.v0, add(t.v0, t.e1), add(t.v0, t.e2)];
    const axis = (a: 0 | 1 | 2) => v.map((p) => p[a]);
    boxes.set(
      [
        Math.min(...axis(0)),
        Math.min(...axis(1)),
        Math.min(...axis(2)),
        Math.max(...axis(0)),
        Math.max(...axis(1)),
        Math.max(...axis(2)),
      ],
      (spheres + j) * 6,
    );
  });
  const bvh = buildBvh(boxes);
  if (bvh.depth > BVH_MAX_DEPTH) throw new Error("BVH deeper than the shader's stack");

  const slots = bounded + planes;
  const primData = new ArrayBuffer(Math.max(1, slots) * PRIM_BYTES);
  const f = new Float32Array(primData);
  const u = new Uint32Array(primData);
  const put = (at: number, word: number, v: readonly number[]) => {
    for (let a = 0; a < v.length; a++) f[at * 16 + word + a] = v[a] as number;
  };
  bvh.order.forEach((item, slot) => {
    if (item < spheres) {
      const s = prepared.spheres[item] as (typeof prepared.spheres)[number];
      put(slot, 0, s.center);
      put(slot, 4, [s.radius, s.radius * s.radius, 1 / s.radius]);
      u[slot * 16 + 3] = mat(s.material);
      u[slot * 16 + 7] = item;
      u[slot * 16 + 11] = KIND.sphere;
    } else {
      const t = prepared.triangles[item - spheres] as (typeof prepared.triangles)[number];
      put(slot, 0, t.v0);
      put(slot, 4, t.e1);
      put(slot, 8, t.e2);
      put(slot, 12, t.normal);
      u[slot * 16 + 3] = mat(t.material);
      u[slot * 16 + 7] = planes + item; // triangles come after the planes in reference order
      u[slot * 16 + 11] = KIND.triangle;
    }
  });
  prepared.planes.forEach((p, j) => {
    const slot = bounded + j;
    put(slot, 0, p.point);
    put(slot, 12, p.normal);
    u[slot * 16 + 3] = mat(p.material);
    u[slot * 16 + 7] = spheres + j;
    u[slot * 16 + 11] = KIND.plane;
  });

  const matData = new ArrayBuffer(scene.materials.length * MATERIAL_BYTES);
  const mf = new Float32Array(matData);
  const mu = new Uint32Array(matData);
  scene.materials.forEach((m, i) => {
    const at = i * 8;
    mu[at + 3] = MATERIAL_KIND[m.type];
    if (m.type === "emissive") mf.set(m.radiance, at);
    else if (m.type === "glass") {
      mf[at + 5] = m.ior;
      mf[at + 6] = 1 / m.ior;
      mf[at + 7] = ((1 - m.ior) / (1 + m.ior)) ** 2;
    } else {
      mf.set(m.albedo, at);
      if (m.type === "metal") mf[at + 4] = m.fuzz;
    }
  });

  const limit = device.limits.maxStorageBufferBindingSize;
  if (primData.byteLength > limit || bvh.nodes.byteLength > limit)
    throw new RangeError("scene exceeds the device's storage buffer binding size");
  const upload = (data: ArrayBuffer, label: string) => {
    const buffer = device.createBuffer({
      label,
      size: Math.max(data.byteLength, 32),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  return {
    scene,
    json,
    nodes: upload(bvh.nodes, "render bvh"),
    prims: upload(primData, "render primitives"),
    materials: upload(matData, "render materials"),
    nodeCount: bvh.nodeCount,
    planeStart: bounded,
    planeCount: planes,
    segmentCost: 2 + Math.ceil(Math.log2(1 + bounded)) + planes,
    users: 0,
    evicted: false,
  };
}

/** render.ts makeCamera, in float64 on the host; the shader gets the rounded basis. */
function cameraParams(spec: RenderSpec): Float32Array {
  const { position, look_at, up, vfov } = spec.scene.camera;
  const forward = normalize(sub(look_at, position));
  const right = normalize(cross(forward, up));
  const halfHeight = Math.tan((vfov * Math.PI) / 360);
  const { top, bottom } = spec.scene.sky;
  return Float32Array.from([
    ...position,
    0,
    ...forward,
    0,
    ...right,
    0,
    ...cross(right, forward),
    0,
    (halfHeight * spec.width) / spec.height,
    halfHeight,
    0,
    0,
    ...top,
    0,
    ...bottom,
    0,
  ]);
}

/**
 * Runs one task: the tile in bands of rows that fit the device's binding size and the dispatch
 * budget, each band's samples in as many dispatches as the budget needs, summed into `accum` on
 * the GPU and divided by the sample count on the host (float64 division, rounded to f32 like
 * the reference's mean).
 */
async function trace(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  scene: SceneEntry,
  spec: RenderSpec,
  task: RenderTask,
  budget: number,
): Promise<Float32Array> {
  const { x, y, width, height } = task.tile;
  const { start, count } = task.samples;
  const segmentTests = (spec.max_bounces + 1) * scene.segmentCost;
  const maxRows = Math.floor(
    Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize) /
      (width * PIXEL_BYTES),
  );
  const bandRows = Math.max(
    1,
    Math.min(
      height,
      maxRows,
      WORKGROUP * device.limits.maxComputeWorkgroupsPerDimension,
      Math.floor(budget / (width * segmentTests)),
    ),
  );
  if (maxRows < 1 || Math.ceil(width / WORKGROUP) > device.limits.maxComputeWorkgroupsPerDimension)
    throw new RangeError("tile too wide for this device");
  const samplesPerDispatch = Math.max(
    1,
    Math.min(count, Math.floor(budget / (width * bandRows * segmentTests))),
  );

  const out = new Float32Array(width * height * 3);
  const camera = cameraParams(spec);
  const params = new ArrayBuffer(PARAMS_BYTES);
  const pu = new Uint32Array(params);
  new Float32Array(params).set(camera, 16);
  pu.set([spec.width, spec.height, spec.seed >>> 0, spec.max_bounces], 4);
  pu.set([0, 0, scene.nodeCount, scene.planeStart], 8);
  pu.set([scene.planeCount, 0, 0, 0], 12);

  const bandBytes = width * bandRows * PIXEL_BYTES;
  const uniform = device.createBuffer({
    label: "render params",
    size: PARAMS_BYTES,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const accum = device.createBuffer({
    label: "render accum",
    size: bandBytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const readback = device.createBuffer({
    label: "render readback",
    size: bandBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: uniform } },
        { binding: 1, resource: { buffer: scene.nodes } },
        { binding: 2, resource: { buffer: scene.prims } },
        { binding: 3, resource: { buffer: scene.materials } },
        { binding: 4, resource: { buffer: accum } },
      ],
    });
    for (let row = 0; row < height; row += bandRows) {
      const rows = Math.min(bandRows, height - row);
      // Errors are captured per band between push and pop with no await in between, so tasks
      // running concurrently on the device cannot take each other's scopes.
      device.pushErrorScope("out-of-memory");
      device.pushErrorScope("validation");
      if (row > 0) {
        const clear = device.createCommandEncoder();
        clear.clearBuffer(accum);
        device.queue.submit([clear.finish()]);
      }
      pu.set([x, y + row, width, rows], 0);
      for (let s = start; s < start + count; s += samplesPerDispatch) {
        pu[8] = s;
        pu[9] = Math.min(samplesPerDispatch, start + count - s);
        // writeBuffer is ordered before the next submit, so one uniform serves every dispatch.
        device.queue.writeBuffer(uniform, 0, params);
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(Math.ceil(width / WORKGROUP), Math.ceil(rows / WORKGROUP));
        pass.end();
        device.queue.submit([encoder.finish()]);
      }
      const copy = device.createCommandEncoder();
      copy.copyBufferToBuffer(accum, 0, readback, 0, width * rows * PIXEL_BYTES);
      device.queue.submit([copy.finish()]);
      const errors = [device.popErrorScope(), device.popErrorScope()];
      await readback.mapAsync(GPUMapMode.READ, 0, width * rows * PIXEL_BYTES);
      for (const error of await Promise.all(errors))
        if (error) throw new Error(`render kernel: ${error.message}`);
      const sums = new Float32Array(readback.getMappedRange(0, width * rows * PIXEL_BYTES));
      const base = row * width * 3;
      for (let i = 0; i < sums.length; i++) out[base + i] = (sums[i] as number) / count;
      readback.unmap();
    }
    return out;
  } finally {
    uniform.destroy();
    accum.destroy();
    readback.destroy();
  }
}
