import type { TaskFrame } from "../../protocol/contributor.ts";
import type { InferenceSpec } from "../../protocol/jobs.ts";
import {
  decodeInference,
  type QuantLayer,
  type QuantMatrix,
  renderTile,
  runInference,
} from "../kernels/index.ts";
import type { Kernel } from "./contributor-client.ts";

/**
 * The CPU references as a contributor kernel: what an honest contributor without a GPU would
 * compute, byte for byte the output layouts of docs/kernels.md. Inference inputs are fetched
 * from the gateway (`<base>/ipfs/<cid>`) once per job.
 */
export function cpuKernel(base: string): Kernel {
  const models = new Map<string, Promise<{ input: QuantMatrix; layers: QuantLayer[] }>>();
  const fetchBlob = async (cid: string) => {
    const res = await fetch(new URL(`/ipfs/${cid}`, base));
    if (!res.ok) throw new Error(`gateway ${res.status} for ${cid}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const model = (jobId: string, spec: InferenceSpec) => {
    let m = models.get(jobId);
    if (!m) {
      m = (async () => {
        const input = await fetchBlob(spec.input.cid);
        const blobs = await Promise.all(
          spec.layers.map(async (l) => ({
            weights: await fetchBlob(l.weights),
            biases: await fetchBlob(l.biases),
          })),
        );
        return decodeInference(spec, input, blobs);
      })();
      models.set(jobId, m);
    }
    return m;
  };
  return async ({ job, task, job_id }: TaskFrame) => {
    if (job.kind === "render" && task.kind === "render") {
      const pixels = renderTile(job, {
        ...task.tile,
        sampleStart: task.samples.start,
        sampleCount: task.samples.count,
      });
      return new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    }
    if (job.kind === "inference" && task.kind === "inference") {
      const { input, layers } = await model(job_id, job);
      const out = runInference(layers, input, task.rows);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    throw new Error(`no CPU reference for ${job.kind} tasks`);
  };
}
