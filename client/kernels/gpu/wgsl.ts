import {
  MAX_WGSL_BUFFERS,
  MAX_WGSL_DISPATCHES,
  MAX_WGSL_OUTPUT_BYTES,
  MAX_WGSL_PARAMS,
  MAX_WGSL_SOURCE_CHARS,
  MAX_WORKGROUPS_PER_DIMENSION,
  type WgslSpec,
  type WgslTask,
} from "../../../protocol/jobs.ts";

/**
 * The `wgsl` kind: runs a developer's compute shader for one dispatch entry (docs/kernels.md,
 * "wgsl"). Inputs are bound read-only at their bindings, outputs read-write and zero-filled, the
 * dispatch's params as a uniform array of u32; the result is the outputs concatenated in the
 * order of `spec.outputs`.
 *
 * Two kinds of failure leave this module, and the caller treats them differently:
 * - `TaskError`: the task itself cannot run (it does not compile, its bindings do not match the
 *   spec, it is over a limit). Every honest contributor fails it the same way; retrying is useless.
 * - `DeviceLostError`: this machine's GPU went away (driver reset, watchdog, `destroy()`). The
 *   caller makes a new device and may retry the task.
 */
export class TaskError extends Error {
  override name = "TaskError";
}

export class DeviceLostError extends Error {
  override name = "DeviceLostError";
  readonly reason: GPUDeviceLostReason;
  constructor(info: GPUDeviceLostInfo) {
    super(`GPU device lost (${info.reason}): ${info.message}`);
    this.reason = info.reason;
  }
}

// --- device loss -------------------------------------------------------------------------------

const lostDevices = new WeakMap<GPUDevice, { info: GPUDeviceLostInfo | null }>();
const LOST = Symbol("lost");

function watch(device: GPUDevice): { info: GPUDeviceLostInfo | null } {
  let state = lostDevices.get(device);
  if (!state) {
    const s: { info: GPUDeviceLostInfo | null } = { info: null };
    device.lost.then((info) => {
      s.info = info;
    });
    lostDevices.set(device, s);
    state = s;
  }
  return state;
}

/**
 * Awaits `work` unless `device` is lost first (or already), then throws `DeviceLostError`. A
 * failure of `work` that comes with the loss (a map aborted by it) is reported as the loss too.
 */
export async function whileDeviceAlive<T>(device: GPUDevice, work: Promise<T>): Promise<T> {
  const state = watch(device);
  // Whatever happens below, a late failure of `work` (a map aborted by the loss) is not unhandled.
  work.catch(() => undefined);
  if (state.info) throw new DeviceLostError(state.info);
  try {
    const result = await Promise.race([work, device.lost.then(() => LOST)]);
    if (result === LOST) throw new DeviceLostError(state.info ?? (await device.lost));
    return result as T;
  } catch (err) {
    if (err instanceof DeviceLostError) throw err;
    // The loss may settle just after the work it aborted.
    await new Promise((r) => setTimeout(r, 0));
    if (state.info) throw new DeviceLostError(state.info);
    throw err;
  }
}

/**
 * Runs `fn` (synchronous GPU calls) inside validation and out-of-memory error scopes and returns
 * what they caught. Both scopes are popped in the same turn as they were pushed, even when `fn`
 * throws, so concurrent tasks on one device never see each other's errors.
 */
export async function captureGpuErrors<T>(
  device: GPUDevice,
  fn: () => T,
): Promise<{ value: T; validation: GPUError | null; memory: GPUError | null }> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let value: T;
  try {
    value = fn();
  } catch (err) {
    void Promise.all([device.popErrorScope(), device.popErrorScope()]).catch(() => undefined);
    throw err;
  }
  const [validation, memory] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  return { value, validation, memory };
}

// --- the runner --------------------------------------------------------------------------------

type Kind = "input" | "output" | "params";
interface Binding {
  binding: number;
  kind: Kind;
}

/**
 * Runs one wgsl task: `inputs[i]` are the bytes of `spec.inputs[i]` (fetched by CID or decoded
 * from the inline base64 by the caller). Returns the task's output buffers concatenated in the
 * order of `spec.outputs`. Throws `TaskError` when the task cannot run as specified and
 * `DeviceLostError` when the device goes away. Compiled pipelines are cached per device, so the
 * tasks of one job compile once.
 *
 *   const out = await runWgslTask(device, spec, task, [xBytes, yBytes]);
 */
export async function runWgslTask(
  device: GPUDevice,
  spec: WgslSpec,
  task: WgslTask,
  inputs: readonly Uint8Array[],
): Promise<Uint8Array> {
  const bindings = checkTask(device, spec, task, inputs);
  const pipeline = await whileDeviceAlive(device, cachedPipeline(device, spec, bindings));
  const [x, y, z] = task.dispatch.workgroups;
  const buffers: GPUBuffer[] = [];
  const make = (d: GPUBufferDescriptor, bytes?: Uint8Array) => {
    const b = device.createBuffer({ ...d, mappedAtCreation: bytes !== undefined });
    buffers.push(b);
    if (bytes) {
      new Uint8Array(b.getMappedRange()).set(bytes);
      b.unmap();
    }
    return b;
  };
  try {
    const {
      value: reads,
      validation,
      memory,
    } = await captureGpuErrors(device, () => {
      const entries: GPUBindGroupEntry[] = spec.inputs.map((input, i) => {
        const bytes = inputs[i] as Uint8Array;
        const size = Math.max(4, Math.ceil(bytes.length / 4) * 4);
        return {
          binding: input.binding,
          resource: { buffer: make({ size, usage: GPUBufferUsage.STORAGE }, bytes) },
        };
      });
      const outs = spec.outputs.map((o) =>
        make({ size: o.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
      );
      spec.outputs.forEach((o, i) => {
        entries.push({ binding: o.binding, resource: { buffer: outs[i] as GPUBuffer } });
      });
      if (spec.params_binding !== undefined) {
        const words = Math.max(4, Math.ceil(task.dispatch.params.length / 4) * 4);
        const params = new Uint32Array(words);
        params.set(task.dispatch.params);
        const bytes = new Uint8Array(params.buffer);
        const buffer = make({ size: bytes.length, usage: GPUBufferUsage.UNIFORM }, bytes);
        entries.push({ binding: spec.params_binding, resource: { buffer } });
      }
      const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      const reads = spec.outputs.map((o) =>
        make({ size: o.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      );
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
      spec.outputs.forEach((o, i) => {
        encoder.copyBufferToBuffer(outs[i] as GPUBuffer, 0, reads[i] as GPUBuffer, 0, o.size);
      });
      device.queue.submit([encoder.finish()]);
      return reads;
    });
    if (validation) throw new TaskError(`the dispatch is invalid: ${firstParagraph(validation)}`);
    if (memory) throw new Error(`GPU out of memory: ${firstParagraph(memory)}`);
    await whileDeviceAlive(device, Promise.all(reads.map((r) => r.mapAsync(GPUMapMode.READ))));
    const out = new Uint8Array(spec.outputs.reduce((n, o) => n + o.size, 0));
    let at = 0;
    for (const r of reads) {
      out.set(new Uint8Array(r.getMappedRange()), at);
      at += r.size;
      r.unmap();
    }
    return out;
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/** Checks a task against the spec's and the device's limits; returns the bind group's shape. */
function checkTask(
  device: GPUDevice,
  spec: WgslSpec,
  task: WgslTask,
  inputs: readonly Uint8Array[],
): Binding[] {
  const lim = device.limits;
  if (inputs.length !== spec.inputs.length)
    throw new RangeError(
      `${inputs.length} input buffers given, the spec has ${spec.inputs.length}`,
    );
  if (spec.source.length > MAX_WGSL_SOURCE_CHARS)
    throw new TaskError(`the source is over ${MAX_WGSL_SOURCE_CHARS} characters`);
  const maxBuffers = Math.min(MAX_WGSL_BUFFERS, lim.maxStorageBuffersPerShaderStage);
  if (spec.inputs.length + spec.outputs.length > maxBuffers)
    throw new TaskError(`at most ${maxBuffers} storage buffers (inputs + outputs)`);
  const maxBinding = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  const bindings: Binding[] = [
    ...spec.inputs.map((b): Binding => ({ binding: b.binding, kind: "input" })),
    ...spec.outputs.map((b): Binding => ({ binding: b.binding, kind: "output" })),
    ...(spec.params_binding === undefined
      ? []
      : [{ binding: spec.params_binding, kind: "params" as const }]),
  ];
  const seen = new Set<number>();
  for (const { binding } of bindings) {
    if (!Number.isInteger(binding) || binding < 0 || binding >= lim.maxBindingsPerBindGroup)
      throw new TaskError(`binding ${binding} is out of range`);
    if (seen.has(binding)) throw new TaskError(`binding ${binding} is used twice`);
    seen.add(binding);
  }
  inputs.forEach((bytes, i) => {
    if (bytes.length > maxBinding)
      throw new TaskError(`input ${i} is ${bytes.length} bytes; this device binds ${maxBinding}`);
  });
  for (const [i, o] of spec.outputs.entries()) {
    const max = Math.min(MAX_WGSL_OUTPUT_BYTES, maxBinding);
    if (!Number.isInteger(o.size) || o.size < 4 || o.size % 4 !== 0 || o.size > max)
      throw new TaskError(`output ${i} size ${o.size} is not a multiple of 4 in 4..${max}`);
  }

  const { index, workgroups, params } = task.dispatch;
  const entry = spec.dispatches[index];
  if (index >= MAX_WGSL_DISPATCHES || !entry)
    throw new TaskError(`dispatch ${index} is not in the spec`);
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(entry.workgroups, workgroups) || !same(entry.params, params))
    throw new TaskError(`the task's dispatch differs from the spec's dispatch ${index}`);
  const maxGroups = Math.min(MAX_WORKGROUPS_PER_DIMENSION, lim.maxComputeWorkgroupsPerDimension);
  for (const n of workgroups)
    if (!Number.isInteger(n) || n < 1 || n > maxGroups)
      throw new TaskError(`workgroups ${workgroups.join("×")}: each must be 1..${maxGroups}`);
  if (params.length > MAX_WGSL_PARAMS)
    throw new TaskError(`${params.length} params; at most ${MAX_WGSL_PARAMS}`);
  if (params.some((p) => !Number.isInteger(p) || p < 0 || p > 0xffff_ffff))
    throw new TaskError("params must be u32");
  if (params.length > 0 && spec.params_binding === undefined)
    throw new TaskError("params need a params_binding");
  if (Math.ceil(params.length / 4) * 16 > lim.maxUniformBufferBindingSize)
    throw new TaskError(`params exceed this device's uniform binding size`);
  return bindings.sort((a, b) => a.binding - b.binding);
}

// --- compilation -------------------------------------------------------------------------------

/** Pipelines by device and (source, entry point, bindings); a few, since jobs come one at a time. */
const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();
const MAX_PIPELINES = 8;

function cachedPipeline(
  device: GPUDevice,
  spec: WgslSpec,
  bindings: readonly Binding[],
): Promise<GPUComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  const key = JSON.stringify([spec.entry_point, bindings, spec.source]);
  let p = cache.get(key);
  if (p) {
    cache.delete(key);
  } else {
    p = compile(device, spec, bindings);
    p.catch(() => undefined);
    if (cache.size >= MAX_PIPELINES) cache.delete(cache.keys().next().value as string);
  }
  cache.set(key, p);
  return p;
}

async function compile(
  device: GPUDevice,
  spec: WgslSpec,
  bindings: readonly Binding[],
): Promise<GPUComputePipeline> {
  const { value: module, validation } = await captureGpuErrors(device, () =>
    device.createShaderModule({ code: spec.source }),
  );
  const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
  if (errors.length > 0)
    throw new TaskError(
      `the shader does not compile: ${errors
        .slice(0, 3)
        .map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`)
        .join("; ")}`,
    );
  if (validation) throw new TaskError(`the shader does not compile: ${firstParagraph(validation)}`);
  checkDeclarations(spec.source, bindings);
  const visibility = GPUShaderStage.COMPUTE;
  const entries = bindings.map(
    ({ binding, kind }): GPUBindGroupLayoutEntry => ({
      binding,
      visibility,
      buffer: {
        type: kind === "input" ? "read-only-storage" : kind === "output" ? "storage" : "uniform",
      },
    }),
  );
  // An explicit layout makes WebGPU check every binding the entry point uses against the spec.
  const layout = device.createPipelineLayout({
    bindGroupLayouts: [device.createBindGroupLayout({ entries })],
  });
  try {
    return await device.createComputePipelineAsync({
      layout,
      compute: { module, entryPoint: spec.entry_point },
    });
  } catch (err) {
    // GPUPipelineError: "validation" is the shader's fault; "internal" is this implementation's.
    const reason = (err as { reason?: string }).reason;
    const message = firstParagraph(err as Error);
    if (reason === "validation") throw new TaskError(`the pipeline is invalid: ${message}`);
    throw new Error(`the pipeline could not be created: ${message}`);
  }
}

/** Dawn appends a " - While calling …" trail to each message; the first paragraph says it. */
function firstParagraph(e: { message: string }): string {
  return (e.message.split(/\n\s*\n| - While /)[0] ?? e.message).trim();
}

// --- declared bindings -------------------------------------------------------------------------

const SPACE: Record<Kind, string> = {
  input: "var<storage, read>",
  output: "var<storage, read_write>",
  params: "var<uniform>",
};

/**
 * Reads the source's `@group/@binding` declarations (integer literals only; anything else is left
 * to WebGPU's own layout check) and refuses a shader whose buffers disagree with the spec: another
 * group, a binding the spec does not fill, a wrong address space or access mode, or a spec output
 * the shader never declares (its bytes would be zeros, surely not what was meant).
 */
function checkDeclarations(source: string, bindings: readonly Binding[]): void {
  const code = blankComments(source);
  const decl = /((?:@\s*[A-Za-z_]\w*\s*(?:\([^()]*\))?\s*)+)var\s*(?:<([^>]*)>)?\s*([A-Za-z_]\w*)/g;
  const literal = (attrs: string, name: string): number | "other" | null => {
    const m = new RegExp(`@\\s*${name}\\s*\\(([^()]*)\\)`).exec(attrs);
    if (!m) return null;
    const v = (m[1] ?? "").trim().replace(/,$/, "").trim();
    return /^(?:0[xX][0-9a-fA-F]+|\d+)[iu]?$/.test(v) ? Number(v.replace(/[iu]$/, "")) : "other";
  };
  const declared = new Set<number>();
  let opaque = false;
  for (const m of code.matchAll(decl)) {
    const attrs = m[1] ?? "";
    const group = literal(attrs, "group");
    const binding = literal(attrs, "binding");
    if (group === null && binding === null) continue;
    const line = code.slice(0, m.index).split("\n").length;
    const name = m[3] ?? "";
    if (group === "other" || binding === "other" || group === null || binding === null) {
      opaque = true;
      continue;
    }
    if (group !== 0)
      throw new TaskError(
        `${line}: '${name}' is in @group(${group}); every buffer is in @group(0)`,
      );
    const spec = bindings.find((b) => b.binding === binding);
    if (!spec)
      throw new TaskError(
        `${line}: '${name}' at @binding(${binding}) is not an input, output or params binding of the spec`,
      );
    const [space = "", access = space === "storage" ? "read" : ""] = (m[2] ?? "")
      .split(",")
      .map((t) => t.trim());
    const actual = space === "" ? "var" : `var<${space}${access ? `, ${access}` : ""}>`;
    if (actual !== SPACE[spec.kind])
      throw new TaskError(
        `${line}: '${name}' at @binding(${binding}) is the spec's ${spec.kind}: declare it ${SPACE[spec.kind]}, not ${actual}`,
      );
    declared.add(binding);
  }
  if (opaque) return;
  for (const b of bindings)
    if (b.kind === "output" && !declared.has(b.binding))
      throw new TaskError(`output binding ${b.binding} is not declared in the shader`);
}

/** The source with comments turned to spaces (newlines kept, so line numbers hold); WGSL §3.4. */
function blankComments(source: string): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const two = source.slice(i, i + 2);
    if (depth === 0 && two === "//") {
      while (i < source.length && source[i] !== "\n") {
        out += " ";
        i++;
      }
      out += source[i] ?? "";
    } else if (two === "/*" || (depth > 0 && two === "*/")) {
      depth += two === "/*" ? 1 : -1;
      out += "  ";
      i++;
    } else out += depth > 0 && source[i] !== "\n" ? " " : source[i];
  }
  return out;
}
