import type { JobKind, JobSpec, Quote, TaskSpec } from "../../protocol/jobs.ts";
import type { Micros } from "../../protocol/money.ts";

/**
 * How a job becomes tasks and what it costs. Everything here is integer arithmetic on the spec,
 * so the Worker (quote), the `Job` object (plan, settle) and the SDK get identical answers.
 */

/** Render tiles are at most this many pixels wide and high (edge tiles are smaller). */
export const RENDER_TILE = 64;
/** Samples per render task; a pixel's samples are split into blocks of at most this many. */
export const RENDER_SAMPLE_BLOCK = 256;
/** Multiply-accumulates an inference task aims at (rows per task = this / Σ in·out, ≥ 1). */
export const INFERENCE_TASK_MACS = 2 ** 27;

/**
 * The tasks of a job, in task-index order. Render: tiles row by row (top to bottom, left to
 * right), each tile's sample blocks innermost. Inference: consecutive row batches. Wgsl: one task
 * per dispatch entry. Every pixel-sample / row is in exactly one task.
 */
export function planTasks(spec: JobSpec, jobId: string): TaskSpec[] {
  const tasks: TaskSpec[] = [];
  const base = () => ({ job_id: jobId, task_index: tasks.length });
  switch (spec.kind) {
    case "render":
      for (let y = 0; y < spec.height; y += RENDER_TILE)
        for (let x = 0; x < spec.width; x += RENDER_TILE)
          for (let s = 0; s < spec.samples_per_pixel; s += RENDER_SAMPLE_BLOCK)
            tasks.push({
              ...base(),
              kind: "render",
              tile: {
                x,
                y,
                width: Math.min(RENDER_TILE, spec.width - x),
                height: Math.min(RENDER_TILE, spec.height - y),
              },
              samples: {
                start: s,
                count: Math.min(RENDER_SAMPLE_BLOCK, spec.samples_per_pixel - s),
              },
            });
      break;
    case "inference": {
      const per = inferenceRowsPerTask(spec);
      for (let r = 0; r < spec.input.rows; r += per)
        tasks.push({
          ...base(),
          kind: "inference",
          rows: { start: r, count: Math.min(per, spec.input.rows - r) },
        });
      break;
    }
    case "wgsl":
      spec.dispatches.forEach((d, index) => {
        tasks.push({
          ...base(),
          kind: "wgsl",
          dispatch: { index, workgroups: [...d.workgroups], params: [...d.params] },
        });
      });
      break;
  }
  return tasks;
}

/** The number of tasks `planTasks` makes, without making them. */
export function taskCount(spec: JobSpec): number {
  switch (spec.kind) {
    case "render":
      return (
        Math.ceil(spec.width / RENDER_TILE) *
        Math.ceil(spec.height / RENDER_TILE) *
        Math.ceil(spec.samples_per_pixel / RENDER_SAMPLE_BLOCK)
      );
    case "inference":
      return Math.ceil(spec.input.rows / inferenceRowsPerTask(spec));
    case "wgsl":
      return spec.dispatches.length;
  }
}

function macsPerRow(spec: Extract<JobSpec, { kind: "inference" }>): number {
  let width = spec.input.cols;
  let macs = 0;
  for (const l of spec.layers) {
    macs += width * l.outputs;
    width = l.outputs;
  }
  return macs;
}

function inferenceRowsPerTask(spec: Extract<JobSpec, { kind: "inference" }>): number {
  return Math.max(1, Math.floor(INFERENCE_TASK_MACS / macsPerRow(spec)));
}

/**
 * The job's size in work units, rounded up (a job is at least 1 unit):
 * - render: `ceil(width·height·spp·(64 + primitives) / 640 000)`, primitives = spheres + planes
 *   + triangles (1 unit ≈ 10⁴ samples through a scene of ≤ 64 primitives);
 * - inference: `ceil(rows·Σ in·out / 10⁶)` (1 unit = 10⁶ multiply-accumulates);
 * - wgsl: `ceil(Σ workgroups·workgroup_cost_milli / 1000)` over dispatches (declared cost).
 */
export function workUnits(spec: JobSpec): number {
  let num: bigint;
  let den: bigint;
  switch (spec.kind) {
    case "render": {
      const s = spec.scene;
      const primitives =
        s.spheres.length + s.planes.length + s.meshes.reduce((n, m) => n + m.triangles.length, 0);
      num =
        BigInt(spec.width * spec.height) * BigInt(spec.samples_per_pixel) * BigInt(64 + primitives);
      den = 640_000n;
      break;
    }
    case "inference":
      num = BigInt(spec.input.rows) * BigInt(macsPerRow(spec));
      den = 1_000_000n;
      break;
    case "wgsl":
      num = spec.dispatches.reduce(
        (n, d) => n + BigInt(d.workgroups[0] * d.workgroups[1]) * BigInt(d.workgroups[2]),
        0n,
      );
      num *= BigInt(spec.workgroup_cost_milli);
      den = 1000n;
      break;
  }
  const units = (num + den - 1n) / den;
  return Number(units > 0n ? units : 1n);
}

/** The price list: USDC base units per work unit and replica, per kind; fee in basis points. */
export interface Prices {
  unit_price: Record<JobKind, Micros>;
  platform_fee_bps: number;
}

/**
 * Prices a job: `compute_cost = work_units × unit_price × replication`, `platform_fee =
 * ceil(compute_cost × platform_fee_bps / 10 000)` (rounded up: a fee never rounds to nothing),
 * `total = compute_cost + platform_fee`. Throws a RangeError if the total is not a safe integer.
 */
export function quote(spec: JobSpec, prices: Prices): Quote {
  const bps = prices.platform_fee_bps;
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000)
    throw new RangeError("fee must be 0..10000 bps");
  const units = workUnits(spec);
  const unitPrice = prices.unit_price[spec.kind];
  const compute = BigInt(units) * BigInt(unitPrice) * BigInt(spec.replication);
  const fee = (compute * BigInt(bps) + 9_999n) / 10_000n;
  const total = compute + fee;
  if (total > BigInt(Number.MAX_SAFE_INTEGER))
    throw new RangeError("the job's price is too large to quote");
  return {
    kind: spec.kind,
    work_units: units,
    unit_price: unitPrice,
    replication: spec.replication,
    tasks: taskCount(spec),
    compute_cost: Number(compute) as Micros,
    platform_fee_bps: bps,
    platform_fee: Number(fee) as Micros,
    total: Number(total) as Micros,
  };
}
