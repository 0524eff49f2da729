import type { QuantLayer, QuantMatrix } from "../inference.ts";
import { captureGpuErrors, whileDeviceAlive } from "./wgsl.ts";

/**
 * The `inference` kind on the GPU, bit-identical to `runInference` (client/kernels/inference.ts).
 *
 * Activations and weights travel as int8 packed four to a u32 word, each row zero-padded to whole
 * words; one invocation computes four consecutive outputs (one output word) of one row, so it
 * writes its word without atomics and reads each input word once for four weight rows. With the
 * WGSL language feature `packed_4x8_integer_dot_product` the four-lane products come from
 * `dot4I8Packed`; without it the lanes are unpacked with `extractBits` (sign-extending).
 *
 * Zero points: `x − x_zp` may not fit int8 (x = 127, x_zp = −128), so the packed dot cannot take
 * it. Instead `Σ (x − x_zp)·W = Σ x·W − x_zp·ΣW` in wrapping int32 — the same value modulo 2³²,
 * which is all the reference keeps — with ΣW per output computed once at upload. Padding lanes
 * have zero weights and contribute nothing to either sum.
 *
 * Requantization needs the exact 64-bit product `acc × multiplier` and an arithmetic shift of up
 * to 62: WGSL has no 64-bit integers, so the product is formed from 16-bit limbs of |acc| into a
 * (lo, hi) u32 pair, negated in two's complement, rounded and shifted as a pair (docs/kernels.md).
 */

const WORKGROUP = 64;
/** Uniform slots are bound at offsets that must be multiples of this (WebGPU's largest default). */
const UNIFORM_SLOT = 256;
/** Models kept uploaded: a job's tasks reuse one, and two jobs may alternate. */
const MAX_MODELS = 2;

function shader(packedDot: boolean): string {
  const dot = packedDot
    ? "fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }"
    : `fn dot4(a: u32, b: u32) -> i32 {
  let x = bitcast<i32>(a);
  let y = bitcast<i32>(b);
  return extractBits(x, 0u, 8u) * extractBits(y, 0u, 8u) + extractBits(x, 8u, 8u) * extractBits(y, 8u, 8u)
       + extractBits(x, 16u, 8u) * extractBits(y, 16u, 8u) + extractBits(x, 24u, 8u) * extractBits(y, 24u, 8u);
}`;
  return `${packedDot ? "requires packed_4x8_integer_dot_product;\n" : ""}
struct Params {
  rows: u32,        // rows in this dispatch
  in_words: u32,    // u32 words per input row
  out_words: u32,   // u32 words per output row (whole layer)
  word0: u32,       // first output word of this weight slice
  slice_words: u32, // output words in this slice
  outputs: u32,     // real outputs of the layer; bytes past it are written as 0
  x_zp: i32,
  multiplier: u32,
  shift: u32,
  y_zp: i32,
  lo: i32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;              // [rows][in_words]
@group(0) @binding(2) var<storage, read> w: array<u32>;              // [4·slice_words][in_words]
@group(0) @binding(3) var<storage, read> bias_sum: array<vec2<i32>>; // [4·slice_words] (bias, ΣW)
@group(0) @binding(4) var<storage, read_write> y: array<u32>;        // [rows][out_words]

${dot}

// a·b for a, b < 2^32 as (lo, hi), from 16-bit limbs.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// clamp(y_zp + roundShift(acc·multiplier, shift), lo, 127) on the exact 64-bit product.
fn requantize(acc: i32) -> i32 {
  let neg = acc < 0;
  let a = bitcast<u32>(acc);
  var q = mul_wide(select(a, 0u - a, neg), p.multiplier);
  if (neg) {
    let lo = ~q.x + 1u;
    q = vec2<u32>(lo, ~q.y + select(0u, 1u, lo == 0u));
  }
  let s = p.shift;
  if (s > 0u) {
    // + 2^(s−1), then an arithmetic shift of the pair: floor((q + 2^(s−1)) / 2^s).
    var half = vec2<u32>(0u, 0u);
    if (s <= 32u) { half.x = 1u << (s - 1u); } else { half.y = 1u << (s - 33u); }
    let lo = q.x + half.x;
    q = vec2<u32>(lo, q.y + half.y + select(0u, 1u, lo < q.x));
    let hi = bitcast<i32>(q.y);
    if (s < 32u) {
      q = vec2<u32>((q.x >> s) | (q.y << (32u - s)), bitcast<u32>(hi >> s));
    } else {
      q = vec2<u32>(bitcast<u32>(hi >> (s - 32u)), bitcast<u32>(hi >> 31u));
    }
  }
  // Saturate the 64-bit value to [−256, 255]: beyond it every zero point clamps the same way.
  let hi = bitcast<i32>(q.y);
  var r = bitcast<i32>(q.x);
  if (hi > 0 || (hi == 0 && q.x > 255u)) { r = 255; }
  else if (hi < -1 || (hi == -1 && q.x < 0xffffff00u)) { r = -256; }
  return clamp(p.y_zp + r, p.lo, 127);
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * n.x + wg.x) * ${WORKGROUP}u + li;
  if (t >= p.rows * p.slice_words) { return; }
  let row = t / p.slice_words;
  let j = t % p.slice_words;
  let xb = row * p.in_words;
  let wb = 4u * j * p.in_words;
  var acc = vec4<i32>(0, 0, 0, 0);
  for (var i = 0u; i < p.in_words; i++) {
    let xv = x[xb + i];
    acc += vec4<i32>(dot4(xv, w[wb + i]), dot4(xv, w[wb + p.in_words + i]),
                     dot4(xv, w[wb + 2u * p.in_words + i]), dot4(xv, w[wb + 3u * p.in_words + i]));
  }
  let word = p.word0 + j;
  var packed = 0u;
  for (var k = 0u; k < 4u; k++) {
    if (4u * word + k < p.outputs) {
      let bs = bias_sum[4u * j + k];
      let q = requantize(bs.x - p.x_zp * bs.y + acc[k]);
      packed |= (bitcast<u32>(q) & 0xffu) << (8u * k);
    }
  }
  y[row * p.out_words + word] = packed;
}
`;
}

export interface InferenceKernelOptions {
  /** Use `dot4I8Packed` (needs the WGSL language feature `packed_4x8_integer_dot_product`). */
  packedDot: boolean;
  /**
   * Largest buffer binding to use, in bytes; defaults to the device's
   * `min(maxStorageBufferBindingSize, maxBufferSize)`. Tests lower it to exercise tiling.
   */
  maxBindingBytes?: number;
}

export interface InferenceKernel {
  /**
   * Runs every layer on input rows `[start, start+count)`: `runInference`'s bytes. The layers'
   * weights are uploaded on first use and kept for the next runs under `modelKey`, or under the
   * identity of the `layers` array when no key is given (so do not mutate a model in place).
   */
  run(
    layers: readonly QuantLayer[],
    input: QuantMatrix,
    rows: { start: number; count: number },
    modelKey?: string,
  ): Promise<Int8Array>;
  /** Frees the uploaded models and work buffers. */
  destroy(): void;
}

/** One slice of a layer's outputs whose weights fit one binding. */
interface Slice {
  word0: number;
  words: number;
  weights: GPUBuffer;
  biasSum: GPUBuffer;
}
interface GpuLayer {
  layer: QuantLayer;
  inWords: number;
  outWords: number;
  slices: Slice[];
}
type Model = GpuLayer[];

const words = (n: number) => Math.ceil(n / 4);

/**
 * Makes an inference kernel on `device`. Example:
 *
 *   const k = createInferenceKernel(device, { packedDot: wgslFeatures.has("packed_4x8_integer_dot_product") });
 *   const out = await k.run(layers, input, { start: 0, count: input.rows });
 */
export function createInferenceKernel(
  device: GPUDevice,
  options: InferenceKernelOptions,
): InferenceKernel {
  const budget =
    options.maxBindingBytes ??
    Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  let pipeline: Promise<GPUComputePipeline> | null = null;
  const models = new Map<unknown, Model>();
  let work: { a: GPUBuffer; b: GPUBuffer; read: GPUBuffer; uniforms: GPUBuffer } | null = null;
  // Runs share the work buffers: one at a time (the device is one queue anyway).
  let queue: Promise<unknown> = Promise.resolve();

  const getPipeline = () => {
    pipeline ??= (async () => {
      const module = device.createShaderModule({ code: shader(options.packedDot) });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
      if (errors.length > 0)
        throw new Error(`inference shader: ${errors.map((m) => m.message).join("; ")}`);
      return device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
    })();
    return pipeline;
  };

  const upload = (layers: readonly QuantLayer[]): Model =>
    layers.map((layer) => {
      const inWords = words(layer.inputs);
      const outWords = words(layer.outputs);
      const perSlice = Math.max(1, Math.floor(budget / (16 * inWords)));
      const slices: Slice[] = [];
      for (let word0 = 0; word0 < outWords; word0 += perSlice) {
        const n = Math.min(perSlice, outWords - word0);
        const weights = device.createBuffer({
          size: 16 * n * inWords,
          usage: GPUBufferUsage.STORAGE,
          mappedAtCreation: true,
        });
        const w = new Int8Array(weights.getMappedRange());
        const biasSum = device.createBuffer({
          size: 32 * n,
          usage: GPUBufferUsage.STORAGE,
          mappedAtCreation: true,
        });
        const bs = new Int32Array(biasSum.getMappedRange());
        for (let r = 0; r < 4 * n; r++) {
          const o = 4 * word0 + r;
          if (o >= layer.outputs) break;
          const row = layer.weights.subarray(o * layer.inputs, (o + 1) * layer.inputs);
          w.set(row, r * 4 * inWords);
          let sum = 0;
          for (const v of row) sum += v;
          bs[2 * r] = layer.biases[o] ?? 0;
          bs[2 * r + 1] = sum;
        }
        weights.unmap();
        biasSum.unmap();
        slices.push({ word0, words: n, weights, biasSum });
      }
      return { layer, inWords, outWords, slices };
    });

  const model = (layers: readonly QuantLayer[], key: unknown): Model => {
    let m = models.get(key);
    if (m) {
      models.delete(key);
    } else {
      m = upload(layers);
      if (models.size >= MAX_MODELS) {
        const [oldKey, old] = models.entries().next().value as [unknown, Model];
        models.delete(oldKey);
        freeModel(old);
      }
    }
    models.set(key, m);
    return m;
  };

  const workBuffers = (actBytes: number, readBytes: number, slots: number) => {
    if (
      !work ||
      work.a.size < actBytes ||
      work.read.size < readBytes ||
      work.uniforms.size < slots * UNIFORM_SLOT
    ) {
      const size = (need: number, had: number | undefined) => Math.max(need, had ?? 0);
      const next = {
        a: device.createBuffer({
          size: size(actBytes, work?.a.size),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
        }),
        b: device.createBuffer({
          size: size(actBytes, work?.b.size),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
        }),
        read: device.createBuffer({
          size: size(readBytes, work?.read.size),
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
        uniforms: device.createBuffer({
          size: size(slots * UNIFORM_SLOT, work?.uniforms.size),
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
      };
      freeWork();
      work = next;
    }
    return work;
  };
  const freeWork = () => {
    if (!work) return;
    for (const b of Object.values(work)) b.destroy();
    work = null;
  };

  const freeModel = (m: Model) => {
    for (const l of m)
      for (const s of l.slices) {
        s.weights.destroy();
        s.biasSum.destroy();
      }
  };

  const runNow = async (
    layers: readonly QuantLayer[],
    input: QuantMatrix,
    rows: { start: number; count: number },
    key: unknown,
  ): Promise<Int8Array> => {
    checkShapes(layers, input, rows);
    const inWords = words(input.cols);
    const rowBytes = 4 * Math.max(inWords, ...layers.map((l) => words(l.outputs)));
    const chunkRows = Math.min(rows.count, Math.floor(budget / rowBytes));
    if (chunkRows < 1) throw new RangeError(`a row of ${rowBytes} bytes exceeds the binding limit`);
    const pipe = await whileDeviceAlive(device, getPipeline());
    const setup = await captureGpuErrors(device, () => {
      const m = model(layers, key);
      const dispatches = m.flatMap((l, k) => l.slices.map((s) => ({ l, s, k })));
      const last = m[m.length - 1] as GpuLayer;
      const w = workBuffers(chunkRows * rowBytes, chunkRows * 4 * last.outWords, dispatches.length);
      const layout = pipe.getBindGroupLayout(0);
      // Layer k reads a (k even) or b and writes the other; dispatch d's uniforms sit in slot d.
      const groups = dispatches.map(({ s, k }, d) =>
        device.createBindGroup({
          layout,
          entries: [
            { binding: 0, resource: { buffer: w.uniforms, offset: d * UNIFORM_SLOT, size: 48 } },
            { binding: 1, resource: { buffer: k % 2 === 0 ? w.a : w.b } },
            { binding: 2, resource: { buffer: s.weights } },
            { binding: 3, resource: { buffer: s.biasSum } },
            { binding: 4, resource: { buffer: k % 2 === 0 ? w.b : w.a } },
          ],
        }),
      );
      return { m, dispatches, last, w, groups, result: m.length % 2 === 0 ? w.a : w.b };
    });
    const setupError = setup.validation ?? setup.memory;
    if (setupError) throw new Error(`inference setup: ${setupError.message}`);
    const { m, dispatches, last, w, groups, result } = setup.value;

    const outs = last.layer.outputs;
    const readBytes = (n: number) => n * 4 * last.outWords;
    const out = new Int8Array(rows.count * outs);
    for (let done = 0; done < rows.count; done += chunkRows) {
      const n = Math.min(chunkRows, rows.count - done);
      const uniforms = new ArrayBuffer(dispatches.length * UNIFORM_SLOT);
      dispatches.forEach(({ l, s, k }, d) => {
        const r = l.layer.requant;
        const xZp = k === 0 ? input.zeroPoint : (m[k - 1]?.layer.requant.zero_point ?? 0);
        const lo = l.layer.activation === "relu" ? r.zero_point : -128;
        const u = [n, l.inWords, l.outWords, s.word0, s.words, l.layer.outputs, xZp];
        u.push(r.multiplier, r.shift, r.zero_point, lo);
        new Uint32Array(uniforms, d * UNIFORM_SLOT, u.length).set(u.map((v) => v >>> 0));
      });
      const chunk = await captureGpuErrors(device, () => {
        device.queue.writeBuffer(w.a, 0, packRows(input, rows.start + done, n, inWords));
        device.queue.writeBuffer(w.uniforms, 0, uniforms);
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipe);
        dispatches.forEach(({ s }, d) => {
          pass.setBindGroup(0, groups[d] as GPUBindGroup);
          const total = Math.ceil((n * s.words) / WORKGROUP);
          const gx = Math.min(total, maxGroups);
          pass.dispatchWorkgroups(gx, Math.ceil(total / gx));
        });
        pass.end();
        encoder.copyBufferToBuffer(result, 0, w.read, 0, readBytes(n));
        device.queue.submit([encoder.finish()]);
      });
      const chunkError = chunk.validation ?? chunk.memory;
      if (chunkError) throw new Error(`inference dispatch: ${chunkError.message}`);
      await whileDeviceAlive(device, w.read.mapAsync(GPUMapMode.READ, 0, readBytes(n)));
      const bytes = new Int8Array(w.read.getMappedRange(0, readBytes(n)));
      if (outs % 4 === 0) out.set(bytes, done * outs);
      else
        for (let r = 0; r < n; r++)
          out.set(
            bytes.subarray(4 * r * last.outWords, 4 * r * last.outWords + outs),
            (done + r) * outs,
          );
      w.read.unmap();
    }
    return out;
  };

  return {
    run(layers, input, rows, modelKey) {
      const key = modelKey ?? layers;
      const next = queue.then(() =>
        runNow(layers, input, rows, key).catch((err: unknown) => {
          // A failed run may leave a half-made upload behind: make the next run upload afresh.
          const m = models.get(key);
          if (m) {
            models.delete(key);
            freeModel(m);
          }
          throw err;
        }),
      );
      queue = next.catch(() => undefined);
      return next;
    },
    destroy() {
      for (const m of models.values()) freeModel(m);
      models.clear();
      freeWork();
    },
  };
}

/** The same shape checks as `runInference`, with the same messages. */
function checkShapes(
  layers: readonly QuantLayer[],
  input: QuantMatrix,
  { start, count }: { start: number; count: number },
) {
  if (start < 0 || count < 1 || start + count > input.rows)
    throw new RangeError(`rows ${start}..${start + count} are not in 0..${input.rows}`);
  if (input.data.length !== input.rows * input.cols)
    throw new RangeError(`the input needs ${input.rows * input.cols} bytes`);
  if (layers.length === 0) throw new RangeError("no layers");
  let width = input.cols;
  for (const l of layers) {
    if (l.inputs !== width) throw new RangeError(`a layer takes ${l.inputs} inputs, gets ${width}`);
    if (l.weights.length !== l.inputs * l.outputs || l.biases.length !== l.outputs)
      throw new RangeError("layer tensors do not match its shape");
    width = l.outputs;
  }
}

/** Input rows `[start, start+n)` as whole u32 words per row, zero-padded. */
function packRows(input: QuantMatrix, start: number, n: number, inWords: number): Int8Array {
  const rows = input.data.subarray(start * input.cols, (start + n) * input.cols);
  if (input.cols % 4 === 0) return rows;
  const out = new Int8Array(n * 4 * inWords);
  for (let r = 0; r < n; r++)
    out.set(rows.subarray(r * input.cols, (r + 1) * input.cols), r * 4 * inWords);
  return out;
}
