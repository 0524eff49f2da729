import { z } from "@hono/zod-openapi";
import { MicrosSchema } from "./money.ts";
import { Scene } from "./scene.ts";
import { checkWgslSource, WGSL_IDENTIFIER } from "./wgsl-check.ts";

/**
 * Job specs: what a developer asks the network to compute. Three kinds, one discriminated union on
 * `kind`. Each kind's meaning is defined by its CPU reference in `client/kernels/` and written
 * down in `docs/kernels.md`; the limits below bound what one job may cost the network.
 */

// --- limits (exported so routes, docs and tests quote the same numbers) ---
export const MAX_RENDER_SIZE = 4096;
export const MAX_SAMPLES_PER_PIXEL = 4096;
/** width × height × samples_per_pixel: 4096² pixels at 256 spp, or 1024² at 4096. */
export const MAX_RENDER_PIXEL_SAMPLES = 2 ** 32;
export const MAX_BOUNCES = 16;
export const MAX_INFERENCE_LAYERS = 16;
/** Inputs and outputs of one layer, and columns of the input matrix. */
export const MAX_LAYER_WIDTH = 4096;
export const MAX_INFERENCE_ROWS = 65_536;
/** Σ in × out over layers: 64 MiB of int8 weights. */
export const MAX_INFERENCE_PARAMETERS = 2 ** 26;
export const MAX_WGSL_SOURCE_CHARS = 65_536;
export const MAX_WGSL_DISPATCHES = 1024;
/** WebGPU's default `maxComputeWorkgroupsPerDimension`. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65_535;
/** WebGPU's default `maxStorageBuffersPerShaderStage`: inputs + outputs share it. */
export const MAX_WGSL_BUFFERS = 8;
export const MAX_WGSL_INLINE_BYTES = 65_536;
/** Bytes of one output buffer: WebGPU's default `maxStorageBufferBindingSize` (128 MiB). */
export const MAX_WGSL_OUTPUT_BYTES = 134_217_728;
export const MAX_WGSL_PARAMS = 64;
export const MAX_REPLICATION = 5;
export const DEFAULT_REPLICATION = 2;

/**
 * A CID as a string, checked loosely for shape (CIDv1 in base32 or CIDv0); storage parses it for
 * real when the bytes are fetched.
 */
export const CID_PATTERN = /^(?:b[a-z2-7]{20,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/;
export const CidString = z
  .string()
  .max(200)
  .regex(CID_PATTERN, "not a CID (CIDv1 base32 'b…' or CIDv0 'Qm…')")
  .openapi({ example: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" });

const common = {
  replication: z
    .number()
    .int()
    .min(1)
    .max(MAX_REPLICATION)
    .default(DEFAULT_REPLICATION)
    .openapi({ description: "Contributors that run each task; results must agree" }),
  max_price: MicrosSchema.optional().openapi({
    description: "Refuse the job if its quoted total (USDC base units) is higher",
  }),
};
const u32 = z.number().int().min(0).max(0xffff_ffff);
const int8 = z.number().int().min(-128).max(127);

export const RenderSpec = z
  .object({
    kind: z.literal("render"),
    scene: Scene,
    width: z.number().int().min(1).max(MAX_RENDER_SIZE),
    height: z.number().int().min(1).max(MAX_RENDER_SIZE),
    samples_per_pixel: z.number().int().min(1).max(MAX_SAMPLES_PER_PIXEL),
    max_bounces: z.number().int().min(1).max(MAX_BOUNCES).default(8),
    seed: u32.default(0).openapi({ description: "Seeds every pixel's random stream" }),
    ...common,
  })
  .superRefine((s, ctx) => {
    if (s.width * s.height * s.samples_per_pixel > MAX_RENDER_PIXEL_SAMPLES)
      ctx.addIssue({
        code: "custom",
        path: ["samples_per_pixel"],
        message: `width × height × samples_per_pixel is over ${MAX_RENDER_PIXEL_SAMPLES}`,
      });
  })
  .openapi("RenderJobSpec");

/**
 * Integer requantization of one layer's int32 accumulator to int8 (gemmlowp/TFLite style, no
 * floats anywhere): `q = clamp(zero_point + roundShift(acc × multiplier, shift), lo, 127)` where
 * `roundShift(x, s) = floor((x + 2^(s−1)) / 2^s)` for s ≥ 1 (round half up) and `x` for s = 0,
 * computed exactly in 64-bit; `lo = zero_point` with ReLU, else −128. The real scale it encodes
 * is `multiplier / 2^shift` = input scale × weight scale / output scale.
 */
export const Requant = z
  .object({
    multiplier: z.number().int().min(1).max(0x7fff_ffff),
    shift: z.number().int().min(0).max(62),
    zero_point: int8.default(0).openapi({ description: "Output zero point" }),
  })
  .openapi("Requantization");

/**
 * One dense layer. Blobs fetched by CID, exactly these bytes and lengths:
 * - `weights`: int8, row-major `[out][in]` (out × in bytes; byte `o·in + i` is W[o][i]);
 * - `biases`: int32 little-endian, `[out]` (4 × out bytes).
 * `in` is the previous layer's `outputs` (the input matrix's `cols` for the first layer).
 */
export const DenseLayer = z
  .object({
    weights: CidString,
    biases: CidString,
    outputs: z.number().int().min(1).max(MAX_LAYER_WIDTH),
    activation: z.enum(["none", "relu"]).default("none"),
    requant: Requant,
  })
  .openapi("DenseLayer");

/**
 * `inference`: int8 dense layers applied to every row of an int8 matrix. The input blob is int8
 * row-major `[rows][cols]` (rows × cols bytes); the output is int8 row-major `[rows][out]` of the
 * last layer. Weights are symmetric (zero point 0); activations carry zero points: each layer
 * accumulates `Σ (x − x_zp)·W + bias` in wrapping int32, with `x_zp` the input's `zero_point`
 * for the first layer and the previous layer's `requant.zero_point` after that.
 */
export const InferenceSpec = z
  .object({
    kind: z.literal("inference"),
    input: z.object({
      cid: CidString,
      rows: z.number().int().min(1).max(MAX_INFERENCE_ROWS),
      cols: z.number().int().min(1).max(MAX_LAYER_WIDTH),
      zero_point: int8.default(0),
    }),
    layers: z.array(DenseLayer).min(1).max(MAX_INFERENCE_LAYERS),
    ...common,
  })
  .superRefine((s, ctx) => {
    let width = s.input.cols;
    let parameters = 0;
    for (const layer of s.layers) {
      parameters += width * layer.outputs;
      width = layer.outputs;
    }
    if (parameters > MAX_INFERENCE_PARAMETERS)
      ctx.addIssue({
        code: "custom",
        path: ["layers"],
        message: `${parameters} weights; at most ${MAX_INFERENCE_PARAMETERS} per job`,
      });
  })
  .openapi("InferenceJobSpec");

const binding = z.number().int().min(0).max(15);
const InlineOrCid = z.union([
  z.object({ binding, cid: CidString }).strict(),
  z
    .object({
      binding,
      data: z
        .base64()
        .max(Math.ceil(MAX_WGSL_INLINE_BYTES / 3) * 4)
        .openapi({ description: "Buffer bytes, base64" }),
    })
    .strict(),
]);
const workgroups = z.number().int().min(1).max(MAX_WORKGROUPS_PER_DIMENSION);

/**
 * `wgsl`: the developer's own compute shader. All buffers are in `@group(0)`: inputs as
 * `var<storage, read>`, outputs as `var<storage, read_write>` (zero-filled), and, when
 * `params_binding` is set, the dispatch's `params` as a `var<uniform>` array of u32 (padded to 16
 * bytes). Each dispatch entry is one task; its outputs are that task's result.
 */
export const WgslSpec = z
  .object({
    kind: z.literal("wgsl"),
    source: z.string().max(MAX_WGSL_SOURCE_CHARS),
    entry_point: z.string().regex(WGSL_IDENTIFIER, "not a WGSL identifier"),
    inputs: z.array(InlineOrCid).max(MAX_WGSL_BUFFERS).default([]),
    outputs: z
      .array(
        z.object({
          binding,
          size: z
            .number()
            .int()
            .min(4)
            .max(MAX_WGSL_OUTPUT_BYTES)
            .multipleOf(4)
            .openapi({ description: "Bytes" }),
        }),
      )
      .min(1)
      .max(MAX_WGSL_BUFFERS),
    params_binding: binding.optional(),
    dispatches: z
      .array(
        z.object({
          workgroups: z.tuple([workgroups, workgroups.default(1), workgroups.default(1)]),
          params: z.array(u32).max(MAX_WGSL_PARAMS).default([]),
        }),
      )
      .min(1)
      .max(MAX_WGSL_DISPATCHES),
    workgroup_cost_milli: z.number().int().min(1).max(1_000_000).default(1).openapi({
      description: "Declared work units per 1000 workgroups: the price of the job scales with it",
    }),
    comparator: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("exact") }),
        z.object({
          type: z.literal("f32"),
          rel_tol: z.number().min(0).max(0.1).default(1e-5),
          abs_tol: z.number().min(0).max(1).default(0),
        }),
      ])
      .default({ type: "exact" }),
    ...common,
  })
  .superRefine((s, ctx) => {
    const problem = checkWgslSource(s.source, s.entry_point);
    if (problem) ctx.addIssue({ code: "custom", path: ["source"], message: problem });
    if (s.inputs.length + s.outputs.length > MAX_WGSL_BUFFERS)
      ctx.addIssue({
        code: "custom",
        path: ["outputs"],
        message: `at most ${MAX_WGSL_BUFFERS} storage buffers (inputs + outputs)`,
      });
    const used = new Set<number>();
    const claim = (path: (string | number)[], b: number) => {
      if (used.has(b))
        ctx.addIssue({ code: "custom", path, message: `binding ${b} is used twice` });
      used.add(b);
    };
    for (const [i, b] of s.inputs.entries()) claim(["inputs", i, "binding"], b.binding);
    for (const [i, b] of s.outputs.entries()) claim(["outputs", i, "binding"], b.binding);
    if (s.params_binding !== undefined) claim(["params_binding"], s.params_binding);
    else
      s.dispatches.forEach((d, i) => {
        if (d.params.length > 0)
          ctx.addIssue({
            code: "custom",
            path: ["dispatches", i, "params"],
            message: "params need a params_binding",
          });
      });
  })
  .openapi("WgslJobSpec");

export const JobSpec = z
  .discriminatedUnion("kind", [RenderSpec, InferenceSpec, WgslSpec])
  .openapi("JobSpec");

export type RenderSpec = z.output<typeof RenderSpec>;
export type InferenceSpec = z.output<typeof InferenceSpec>;
export type WgslSpec = z.output<typeof WgslSpec>;
export type JobSpec = z.output<typeof JobSpec>;
export type JobKind = JobSpec["kind"];
export type Requant = z.output<typeof Requant>;

export * from "./scene.ts";
export * from "./tasks.ts";
