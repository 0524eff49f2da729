import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InferenceSpec } from "../../protocol/jobs.ts";
import { decodeInference, type QuantLayer, requantize, runInference } from "./inference.ts";

/**
 * An independent reference: everything in BigInt, int32 wrapping by BigInt.asIntN, rounding by
 * exact rational arithmetic (round half up = floor(x/2^s + 1/2) = floor((2x + 2^s) / 2^(s+1))).
 */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
function referenceRow(layers: QuantLayer[], row: number[], inputZp: number): number[] {
  let x = row.map(BigInt);
  let zp = BigInt(inputZp);
  for (const l of layers) {
    const y: bigint[] = [];
    for (let o = 0; o < l.outputs; o++) {
      let acc = BigInt(l.biases[o] ?? 0);
      for (let i = 0; i < l.inputs; i++)
        acc += ((x[i] ?? 0n) - zp) * BigInt(l.weights[o * l.inputs + i] ?? 0);
      acc = BigInt.asIntN(32, acc);
      const prod = acc * BigInt(l.requant.multiplier);
      const s = BigInt(l.requant.shift);
      const scaled = s === 0n ? prod : floorDiv(2n * prod + (1n << s), 1n << (s + 1n));
      let v = BigInt(l.requant.zero_point) + scaled;
      const lo = l.activation === "relu" ? BigInt(l.requant.zero_point) : -128n;
      if (v < lo) v = lo;
      if (v > 127n) v = 127n;
      y.push(v);
    }
    x = y;
    zp = BigInt(l.requant.zero_point);
  }
  return x.map(Number);
}

const int8 = fc.integer({ min: -128, max: 127 });
const requant = fc.record({
  multiplier: fc.integer({ min: 1, max: 0x7fffffff }),
  shift: fc.integer({ min: 0, max: 62 }),
  zero_point: int8,
});

/** Random small networks: widths 1..6, up to 3 layers, 1..5 rows. */
const network = fc
  .record({
    rows: fc.integer({ min: 1, max: 5 }),
    widths: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 4 }),
    zp: int8,
  })
  .chain(({ rows, widths, zp }) =>
    fc.record({
      rows: fc.constant(rows),
      zp: fc.constant(zp),
      input: fc.array(int8, {
        minLength: rows * (widths[0] ?? 1),
        maxLength: rows * (widths[0] ?? 1),
      }),
      layers: fc.tuple(
        ...widths.slice(1).map((out, k) => {
          const inp = widths[k] ?? 1;
          return fc.record({
            inputs: fc.constant(inp),
            outputs: fc.constant(out),
            weights: fc
              .array(int8, { minLength: inp * out, maxLength: inp * out })
              .map((a) => Int8Array.from(a)),
            biases: fc
              .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
                minLength: out,
                maxLength: out,
              })
              .map((a) => Int32Array.from(a)),
            activation: fc.constantFrom("none" as const, "relu" as const),
            requant,
          });
        }),
      ),
      cols: fc.constant(widths[0] ?? 1),
    }),
  );

describe("runInference", () => {
  it("is bit-identical to an independent BigInt reference on random networks", () => {
    fc.assert(
      fc.property(network, ({ rows, cols, zp, input, layers }) => {
        const data = Int8Array.from(input);
        const out = runInference(
          layers,
          { rows, cols, data, zeroPoint: zp },
          { start: 0, count: rows },
        );
        const expected = [];
        for (let r = 0; r < rows; r++)
          expected.push(...referenceRow(layers, input.slice(r * cols, (r + 1) * cols), zp));
        expect(Array.from(out)).toEqual(expected);
        // Any row range is the same rows of the whole.
        const last = runInference(
          layers,
          { rows, cols, data, zeroPoint: zp },
          { start: rows - 1, count: 1 },
        );
        expect(Array.from(last)).toEqual(expected.slice(-last.length));
      }),
      { numRuns: 500 },
    );
  });

  it("wraps the int32 accumulator instead of overflowing", () => {
    const layer: QuantLayer = {
      inputs: 1,
      outputs: 1,
      weights: Int8Array.of(1),
      biases: Int32Array.of(2 ** 31 - 1),
      activation: "none",
      requant: { multiplier: 1, shift: 0, zero_point: 0 },
    };
    // (2^31 − 1) + 1 wraps to −2^31, which saturates at −128.
    expect(
      Array.from(
        runInference(
          [layer],
          { rows: 1, cols: 1, data: Int8Array.of(1), zeroPoint: 0 },
          { start: 0, count: 1 },
        ),
      ),
    ).toEqual([-128]);
  });
});

describe("requantize", () => {
  const r = (multiplier: number, shift: number, zero_point = 0) => ({
    multiplier,
    shift,
    zero_point,
  });
  it("rounds half up", () => {
    expect(requantize(5, r(1, 1), false)).toBe(3);
    expect(requantize(-5, r(1, 1), false)).toBe(-2);
    expect(requantize(-6, r(1, 2), false)).toBe(-1); // −1.5 → −1
    expect(requantize(6, r(1, 2), false)).toBe(2); // 1.5 → 2
  });
  it("saturates at 127 and −128", () => {
    expect(requantize(2 ** 31 - 1, r(0x7fffffff, 0), false)).toBe(127);
    expect(requantize(-(2 ** 31), r(0x7fffffff, 0), false)).toBe(-128);
    expect(requantize(128, r(1, 0), false)).toBe(127);
    expect(requantize(-129, r(1, 0), false)).toBe(-128);
    expect(requantize(127, r(1, 0), false)).toBe(127);
    expect(requantize(-128, r(1, 0), false)).toBe(-128);
  });
  it("adds the zero point before saturating, and ReLU clamps at the zero point", () => {
    expect(requantize(120, r(1, 0, 10), false)).toBe(127);
    expect(requantize(-50, r(1, 0, -100), false)).toBe(-128);
    expect(requantize(-50, r(1, 0, 5), true)).toBe(5);
    expect(requantize(50, r(1, 0, 5), true)).toBe(55);
  });
  it("uses the exact 64-bit product (2^31−1)·(2^31−1) >> 62", () => {
    expect(requantize(2 ** 31 - 1, r(0x7fffffff, 62), false)).toBe(1);
  });
});

describe("decodeInference", () => {
  const cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  const spec = InferenceSpec.parse({
    kind: "inference",
    input: { cid, rows: 2, cols: 3 },
    layers: [{ weights: cid, biases: cid, outputs: 2, requant: { multiplier: 1, shift: 0 } }],
  });

  it("reads int8 row-major weights and little-endian int32 biases", () => {
    const biases = new Uint8Array(8);
    new DataView(biases.buffer).setInt32(0, -300, true);
    new DataView(biases.buffer).setInt32(4, 70000, true);
    const { input, layers } = decodeInference(spec, Uint8Array.of(1, 2, 3, 255, 0, 128), [
      { weights: Uint8Array.of(1, 0, 0, 0, 0, 255), biases },
    ]);
    expect(Array.from(input.data)).toEqual([1, 2, 3, -1, 0, -128]);
    expect(Array.from(layers[0]?.weights ?? [])).toEqual([1, 0, 0, 0, 0, -1]);
    expect(Array.from(layers[0]?.biases ?? [])).toEqual([-300, 70000]);
    // Row 1: W[0]·x = −1, −1 − 300 → −128; W[1]·x = 128, 128 + 70000 → 127.
    expect(Array.from(runInference(layers, input, { start: 1, count: 1 }))).toEqual([-128, 127]);
  });

  it("refuses blobs whose lengths do not match the layout", () => {
    expect(() =>
      decodeInference(spec, new Uint8Array(5), [
        { weights: new Uint8Array(6), biases: new Uint8Array(8) },
      ]),
    ).toThrow(/input is 5 bytes/);
    expect(() =>
      decodeInference(spec, new Uint8Array(6), [
        { weights: new Uint8Array(5), biases: new Uint8Array(8) },
      ]),
    ).toThrow(/weights/);
    expect(() =>
      decodeInference(spec, new Uint8Array(6), [
        { weights: new Uint8Array(6), biases: new Uint8Array(2) },
      ]),
    ).toThrow(/biases/);
  });
});
