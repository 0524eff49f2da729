import type { InferenceSpec, Requant } from "../../protocol/jobs.ts";

/**
 * The `inference` kind's meaning: int8 dense layers in integer arithmetic only, so every honest
 * machine produces the same bytes and replicas are compared by digest. Per row and layer:
 *
 *   acc[o] = bias[o] + Σ_i (x[i] − x_zp)·W[o][i]      (int32, wrapping modulo 2^32)
 *   y[o]   = requantize(acc[o])                         (see `requantize`)
 *
 * Wrapping makes the sum independent of its order, which a GPU is free to choose.
 * Byte layouts are stated on the schemas in `protocol/jobs.ts`.
 */
export interface QuantLayer {
  inputs: number;
  outputs: number;
  /** int8 `[outputs][inputs]`, row-major. */
  weights: Int8Array;
  /** int32 `[outputs]`. */
  biases: Int32Array;
  activation: "none" | "relu";
  requant: Requant;
}

export interface QuantMatrix {
  rows: number;
  cols: number;
  /** int8 `[rows][cols]`, row-major. */
  data: Int8Array;
  zeroPoint: number;
}

/**
 * `clamp(zero_point + roundShift(acc·multiplier, shift), lo, 127)` with `lo = zero_point` under
 * ReLU and −128 otherwise; `roundShift(x, s) = floor((x + 2^(s−1)) / 2^s)` (round half up) for
 * s ≥ 1, `x` for s = 0, on the exact 64-bit product. Example: acc = 5, multiplier = 1, shift = 1
 * → floor(6/2) = 3; acc = −5 → floor(−4/2) = −2.
 */
export function requantize(acc: number, r: Requant, relu: boolean): number {
  let q = BigInt(acc) * BigInt(r.multiplier);
  if (r.shift > 0) q = (q + (1n << BigInt(r.shift - 1))) >> BigInt(r.shift);
  const lo = relu ? r.zero_point : -128;
  const y = BigInt(r.zero_point) + q;
  return y < BigInt(lo) ? lo : y > 127n ? 127 : Number(y);
}

/**
 * Runs every layer on input rows `[start, start+count)` and returns the last layer's int8
 * outputs, `[count][outputs]` row-major: the output of one inference task.
 */
export function runInference(
  layers: readonly QuantLayer[],
  input: QuantMatrix,
  rowRange: { start: number; count: number },
): Int8Array {
  const { start, count } = rowRange;
  if (start < 0 || count < 1 || start + count > input.rows)
    throw new RangeError(`rows ${start}..${start + count} are not in 0..${input.rows}`);
  if (input.data.length !== input.rows * input.cols)
    throw new RangeError(`the input needs ${input.rows * input.cols} bytes`);
  const last = layers[layers.length - 1];
  if (!last) throw new RangeError("no layers");
  let width = input.cols;
  for (const l of layers) {
    if (l.inputs !== width) throw new RangeError(`a layer takes ${l.inputs} inputs, gets ${width}`);
    if (l.weights.length !== l.inputs * l.outputs || l.biases.length !== l.outputs)
      throw new RangeError("layer tensors do not match its shape");
    width = l.outputs;
  }
  const out = new Int8Array(count * last.outputs);
  for (let row = 0; row < count; row++) {
    let x = input.data.subarray((start + row) * input.cols, (start + row + 1) * input.cols);
    let zp = input.zeroPoint;
    for (const l of layers) {
      const y = new Int8Array(l.outputs);
      for (let o = 0; o < l.outputs; o++) {
        let acc = l.biases[o] ?? 0;
        const w = o * l.inputs;
        for (let i = 0; i < l.inputs; i++)
          acc = (acc + Math.imul((x[i] ?? 0) - zp, l.weights[w + i] ?? 0)) | 0;
        y[o] = requantize(acc, l.requant, l.activation === "relu");
      }
      x = y;
      zp = l.requant.zero_point;
    }
    out.set(x, row * last.outputs);
  }
  return out;
}

/**
 * Reads the blobs an inference spec names (fetched by CID) into typed tensors, checking each
 * length against the layout: input `rows·cols` bytes, weights `out·in` bytes, biases `4·out`
 * bytes (int32 little-endian).
 */
export function decodeInference(
  spec: InferenceSpec,
  input: Uint8Array,
  blobs: readonly { weights: Uint8Array; biases: Uint8Array }[],
): { input: QuantMatrix; layers: QuantLayer[] } {
  const { rows, cols, zero_point } = spec.input;
  if (input.length !== rows * cols)
    throw new RangeError(`input is ${input.length} bytes; ${rows}×${cols} needs ${rows * cols}`);
  if (blobs.length !== spec.layers.length) throw new RangeError("one blob pair per layer");
  let inputs = cols;
  const layers = spec.layers.map((l, k): QuantLayer => {
    const blob = blobs[k];
    if (!blob) throw new RangeError(`layer ${k} has no blobs`);
    if (blob.weights.length !== inputs * l.outputs)
      throw new RangeError(
        `layer ${k} weights are ${blob.weights.length} bytes, need ${inputs * l.outputs}`,
      );
    if (blob.biases.length !== 4 * l.outputs)
      throw new RangeError(
        `layer ${k} biases are ${blob.biases.length} bytes, need ${4 * l.outputs}`,
      );
    const view = new DataView(blob.biases.buffer, blob.biases.byteOffset, blob.biases.length);
    const biases = Int32Array.from({ length: l.outputs }, (_, o) => view.getInt32(4 * o, true));
    const layer: QuantLayer = {
      inputs,
      outputs: l.outputs,
      weights: new Int8Array(blob.weights.buffer, blob.weights.byteOffset, blob.weights.length),
      biases,
      activation: l.activation,
      requant: l.requant,
    };
    inputs = l.outputs;
    return layer;
  });
  return {
    input: {
      rows,
      cols,
      zeroPoint: zero_point,
      data: new Int8Array(input.buffer, input.byteOffset, input.length),
    },
    layers,
  };
}
