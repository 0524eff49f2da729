import { z } from "@hono/zod-openapi";
import { MicrosSchema } from "./money.ts";

/**
 * What one task tells a contributor: which job, which task, and the kind's slice of the work.
 * The job's spec travels beside it (the contributor needs the scene, the layers, the shader);
 * the slice says which part of that spec this task computes. Tasks are made by
 * `planTasks` in `client/kernels/plan.ts`, so every replica of a task gets the same slice.
 */
const index = z.number().int().min(0);
const count = z.number().int().min(1);
const base = {
  job_id: z.string().min(1).max(100),
  task_index: index,
};

/**
 * A render task: the pixels `[x, x+width) × [y, y+height)` (y = 0 is the top row), samples
 * `[start, start+count)` of each. Its output is the tile's linear RGB as little-endian f32,
 * row-major within the tile, 3 floats a pixel, each the mean over the task's samples.
 */
export const RenderTask = z
  .object({
    ...base,
    kind: z.literal("render"),
    tile: z.object({ x: index, y: index, width: count, height: count }),
    samples: z.object({ start: index, count }),
  })
  .openapi("RenderTask");

/** An inference task: input rows `[start, start+count)`; output int8 `[count][out]`. */
export const InferenceTask = z
  .object({
    ...base,
    kind: z.literal("inference"),
    rows: z.object({ start: index, count }),
  })
  .openapi("InferenceTask");

/** A wgsl task: one dispatch entry of the spec (its workgroup counts and params, copied here). */
export const WgslTask = z
  .object({
    ...base,
    kind: z.literal("wgsl"),
    dispatch: z.object({
      index,
      workgroups: z.tuple([count, count, count]),
      params: z.array(z.number().int().min(0).max(0xffff_ffff)),
    }),
  })
  .openapi("WgslTask");

export const TaskSpec = z
  .discriminatedUnion("kind", [RenderTask, InferenceTask, WgslTask])
  .openapi("TaskSpec");

export type RenderTask = z.output<typeof RenderTask>;
export type InferenceTask = z.output<typeof InferenceTask>;
export type WgslTask = z.output<typeof WgslTask>;
export type TaskSpec = z.output<typeof TaskSpec>;

/**
 * The price of a job: `compute_cost = work_units × unit_price × replication`,
 * `platform_fee = ceil(compute_cost × platform_fee_bps / 10 000)`, `total = compute_cost +
 * platform_fee`. All amounts are USDC base units; `quote` in `client/kernels/plan.ts` computes it.
 */
export const Quote = z
  .object({
    kind: z.enum(["render", "inference", "wgsl"]),
    work_units: z.number().int().min(0).openapi({ description: "See docs/kernels.md" }),
    unit_price: MicrosSchema.openapi({ description: "USDC base units per work unit per replica" }),
    replication: z.number().int().min(1),
    tasks: z.number().int().min(1),
    compute_cost: MicrosSchema,
    platform_fee_bps: z.number().int().min(0).max(10_000),
    platform_fee: MicrosSchema,
    total: MicrosSchema,
  })
  .openapi("Quote");
export type Quote = z.output<typeof Quote>;
