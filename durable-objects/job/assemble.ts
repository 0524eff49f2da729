import {
  assembleTiles,
  encodePng,
  f32FromBytes,
  type TilePart,
  toRgba8,
} from "../../client/kernels/index.ts";
import type { JobSpec, TaskSpec } from "../../protocol/jobs.ts";

/**
 * A finished job's result from its accepted task outputs (in task order):
 * - render: the tiles and sample blocks averaged into the image, tone-mapped, as a PNG;
 * - inference: the output matrix, int8 `[rows][outputs]` row-major (task outputs concatenated);
 * - wgsl: every task's outputs concatenated in task order.
 */
export async function assembleResult(
  spec: JobSpec,
  parts: readonly { task: TaskSpec; output: Uint8Array }[],
): Promise<{ bytes: Uint8Array; name: string }> {
  if (spec.kind === "render") {
    const tiles: TilePart[] = parts.map(({ task, output }) => {
      if (task.kind !== "render") throw new Error("a render job has render tasks only");
      const pixels = f32FromBytes(output);
      if (!pixels) throw new Error(`task ${task.task_index} output is not f32`);
      return { tile: task.tile, samples: task.samples, pixels };
    });
    const image = toRgba8(assembleTiles(spec.width, spec.height, tiles));
    return { bytes: await encodePng(spec.width, spec.height, image), name: "render.png" };
  }
  const total = parts.reduce((n, p) => n + p.output.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const { output } of parts) {
    bytes.set(output, at);
    at += output.length;
  }
  return { bytes, name: spec.kind === "inference" ? "output.i8" : "outputs.bin" };
}
