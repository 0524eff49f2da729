import type { TaskFrame } from "../../../protocol/contributor.ts";
import type { InferenceSpec } from "../../../protocol/jobs.ts";
import { decodeInference, type QuantLayer, type QuantMatrix } from "../inference.ts";
import { createInferenceKernel } from "./inference.ts";
import { createRenderKernel } from "./render.ts";
import { runWgslTask } from "./wgsl.ts";

/**
 * The GPU side of a contributor: one object per `GPUDevice` that runs any task frame with the
 * WGSL kernels and returns the output bytes the protocol expects (docs/kernels.md). Shared by
 * the browser tab's worker and `tessera node`; inputs named by CID come through `fetchBlob`
 * (the gateway). A lost device surfaces as an error from `run`; the caller makes a new device
 * and a new runner.
 */
export interface GpuRunnerOptions {
  device: GPUDevice;
  /** WGSL language features of the adapter (`navigator.gpu.wgslLanguageFeatures`). */
  wgslFeatures: ReadonlySet<string>;
  fetchBlob: (cid: string) => Promise<Uint8Array>;
}

export type GpuRunner = (task: TaskFrame) => Promise<Uint8Array>;

export async function createGpuRunner(options: GpuRunnerOptions): Promise<GpuRunner> {
  const { device, fetchBlob } = options;
  const render = await createRenderKernel(device);
  const inference = createInferenceKernel(device, {
    packedDot: options.wgslFeatures.has("packed_4x8_integer_dot_product"),
  });
  // Inputs of the jobs seen last, by job id (a few: one job at a time is the common case).
  const models = new Map<string, Promise<{ input: QuantMatrix; layers: QuantLayer[] }>>();
  const wgslInputs = new Map<string, Promise<Uint8Array[]>>();
  const remember = <T>(cache: Map<string, T>, key: string, make: () => T): T => {
    let value = cache.get(key);
    if (value === undefined) {
      value = make();
      cache.set(key, value);
      if (cache.size > 4) cache.delete(cache.keys().next().value as string);
    }
    return value;
  };

  return async ({ job, task, job_id }) => {
    if (job.kind === "render" && task.kind === "render") {
      const pixels = await render.run(job, task);
      return new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    }
    if (job.kind === "inference" && task.kind === "inference") {
      const model = await remember(models, job_id, () => loadModel(job, fetchBlob));
      const out = await inference.run(model.layers, model.input, task.rows, job_id);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    if (job.kind === "wgsl" && task.kind === "wgsl") {
      const inputs = await remember(wgslInputs, job_id, () =>
        Promise.all(
          job.inputs.map((i) =>
            "cid" in i ? fetchBlob(i.cid) : Promise.resolve(fromBase64(i.data)),
          ),
        ),
      );
      return runWgslTask(device, job, task, inputs);
    }
    throw new Error(`task kind ${task.kind} does not match job kind ${job.kind}`);
  };
}

async function loadModel(spec: InferenceSpec, fetchBlob: (cid: string) => Promise<Uint8Array>) {
  const [input, ...blobs] = await Promise.all([
    fetchBlob(spec.input.cid),
    ...spec.layers.map(async (l) => ({
      weights: await fetchBlob(l.weights),
      biases: await fetchBlob(l.biases),
    })),
  ]);
  return decodeInference(
    spec,
    input as Uint8Array,
    blobs as { weights: Uint8Array; biases: Uint8Array }[],
  );
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
