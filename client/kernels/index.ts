/**
 * CPU references of the job kinds and the arithmetic around them (planning, pricing,
 * comparing). The server uses them for canary answers and quotes; tests use them as the oracle;
 * the WGSL kernels must match them (see `docs/kernels.md`).
 */
export {
  type Comparison,
  compareF32,
  compareOutputs,
  compareRenderTile,
  exactEqual,
  type F32Tolerance,
  f32FromBytes,
  RENDER_TOLERANCE,
} from "./compare.ts";
export { assembleTiles, type TilePart, toRgba8 } from "./image.ts";
export {
  decodeInference,
  type QuantLayer,
  type QuantMatrix,
  requantize,
  runInference,
} from "./inference.ts";
export {
  INFERENCE_TASK_MACS,
  type Prices,
  planTasks,
  quote,
  RENDER_SAMPLE_BLOCK,
  RENDER_TILE,
  taskCount,
  workUnits,
} from "./plan.ts";
export { crc32, encodePng } from "./png.ts";
export { pcg, sampleKey } from "./render/rng.ts";
export { type RenderTile, renderTile } from "./render.ts";
