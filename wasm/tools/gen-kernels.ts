// Generates wasm/assembly/kernels.ts: the BLAKE3 compression function fully unrolled, once for a
// single block (u32 locals) and once for four independent inputs in i32x4 lanes. Unrolling by
// hand would be 7 rounds x 8 G calls of error-prone copy-paste; AssemblyScript has no macros and
// its functions cannot update the caller's locals, so a generator is the honest way to keep the
// 32 state/message values in locals (registers) instead of memory.
// Usage: node wasm/tools/gen-kernels.ts && npx biome format --write wasm/assembly/kernels.ts
// (the output is deterministic and committed).
import { writeFileSync } from "node:fs";

const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const IV = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const G_ARGS = [
  [0, 4, 8, 12],
  [1, 5, 9, 13],
  [2, 6, 10, 14],
  [3, 7, 11, 15],
  [0, 5, 10, 15],
  [1, 6, 11, 12],
  [2, 7, 8, 13],
  [3, 4, 9, 14],
];

/** Message word order for each of the 7 rounds, derived from the permutation in the spec. */
function schedule(): number[][] {
  const rounds: number[][] = [];
  let order = [...Array(16).keys()];
  for (let r = 0; r < 7; r++) {
    rounds.push(order);
    order = PERMUTATION.map((p) => order[p] as number);
  }
  return rounds;
}

type Ops = {
  add3: (a: string, b: string, m: string) => string;
  add: (a: string, b: string) => string;
  xorRot: (a: string, b: string, n: number) => string;
};

const scalarOps: Ops = {
  add3: (a, b, m) => `${a} + ${m} + ${b}`,
  add: (a, b) => `${a} + ${b}`,
  xorRot: (a, b, n) => `rotr<u32>(${a} ^ ${b}, ${n})`,
};

const BYTE_ROT: Record<number, number[]> = { 16: [2, 3, 0, 1], 8: [1, 2, 3, 0] };
const RELAXED = process.env.RELAXED === "1";
const simdOps: Ops = {
  add3: (a, b, m) => `i32x4.add(i32x4.add(${a}, ${m}), ${b})`,
  add: (a, b) => `i32x4.add(${a}, ${b})`,
  xorRot: (a, b, n) => {
    const x = `v128.xor(${a}, ${b})`;
    const bytes = BYTE_ROT[n];
    if (bytes && RELAXED) return `i8x16.relaxed_swizzle(${x}, rot${n})`;
    if (bytes && n === 16) {
      const lanes = [0, 4, 8, 12].flatMap((w) => bytes.map((i) => w + i));
      return `i8x16.shuffle(${x}, ${x}, ${lanes.join(", ")})`;
    }
    return `v128.or(i32x4.shr_u(${x}, ${n}), i32x4.shl(${x}, ${32 - n}))`;
  },
};

function rounds(ops: Ops, indent: string): string {
  const out: string[] = [];
  for (const order of schedule()) {
    G_ARGS.forEach(([a, b, c, d], i) => {
      const [va, vb, vc, vd] = [a, b, c, d].map((n) => `v${n}`) as [string, string, string, string];
      const mx = `m${order[2 * i]}`;
      const my = `m${order[2 * i + 1]}`;
      out.push(`${va} = ${ops.add3(va, vb, mx)};`);
      out.push(`${vd} = ${ops.xorRot(vd, va, 16)};`);
      out.push(`${vc} = ${ops.add(vc, vd)};`);
      out.push(`${vb} = ${ops.xorRot(vb, vc, 12)};`);
      out.push(`${va} = ${ops.add3(va, vb, my)};`);
      out.push(`${vd} = ${ops.xorRot(vd, va, 8)};`);
      out.push(`${vc} = ${ops.add(vc, vd)};`);
      out.push(`${vb} = ${ops.xorRot(vb, vc, 7)};`);
    });
  }
  return out.map((l) => indent + l).join("\n");
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
const range = (n: number) => [...Array(n).keys()];

function scalarKernel(): string {
  const i = "  ";
  return `/**
 * One BLAKE3 compression. Reads the 8-word chaining value at \`cv\` and the 64-byte block at
 * \`block\` before writing, so \`out\` may alias either. Writes 8 words, or all 16 when \`wide\`
 * (extended output of a root node).
 */
export function compress(
  cv: usize,
  block: usize,
  blockLen: u32,
  counter: u64,
  flags: u32,
  out: usize,
  wide: bool,
): void {
${range(8)
  .map((n) => `${i}const h${n} = load<u32>(cv, ${n * 4});`)
  .join("\n")}
${range(16)
  .map((n) => `${i}const m${n} = load<u32>(block, ${n * 4});`)
  .join("\n")}
${range(8)
  .map((n) => `${i}let v${n} = h${n};`)
  .join("\n")}
${range(4)
  .map((n) => `${i}let v${n + 8}: u32 = ${hex(IV[n] as number)};`)
  .join("\n")}
${i}let v12 = <u32>counter;
${i}let v13 = <u32>(counter >>> 32);
${i}let v14 = blockLen;
${i}let v15 = flags;
${rounds(scalarOps, i)}
${i}if (wide) {
${range(8)
  .map((n) => `${i}${i}store<u32>(out, v${n + 8} ^ h${n}, ${(n + 8) * 4});`)
  .join("\n")}
${i}}
${range(8)
  .map((n) => `${i}store<u32>(out, v${n} ^ v${n + 8}, ${n * 4});`)
  .join("\n")}
}
`;
}

/** Transposes four rows of 4 words (one row per input) into four columns (one word per lane). */
function transpose(rows: string[], cols: string[], tmp: string, i: string): string {
  const [r0, r1, r2, r3] = rows;
  const [c0, c1, c2, c3] = cols;
  return [
    `const ${tmp}0 = i32x4.shuffle(${r0}, ${r1}, 0, 4, 1, 5);`,
    `const ${tmp}1 = i32x4.shuffle(${r0}, ${r1}, 2, 6, 3, 7);`,
    `const ${tmp}2 = i32x4.shuffle(${r2}, ${r3}, 0, 4, 1, 5);`,
    `const ${tmp}3 = i32x4.shuffle(${r2}, ${r3}, 2, 6, 3, 7);`,
    `const ${c0} = i64x2.shuffle(${tmp}0, ${tmp}2, 0, 2);`,
    `const ${c1} = i64x2.shuffle(${tmp}0, ${tmp}2, 1, 3);`,
    `const ${c2} = i64x2.shuffle(${tmp}1, ${tmp}3, 0, 2);`,
    `const ${c3} = i64x2.shuffle(${tmp}1, ${tmp}3, 1, 3);`,
  ]
    .map((l) => i + l)
    .join("\n");
}

function simdKernel(): string {
  const i = "  ";
  const i2 = i + i;
  const loads: string[] = [];
  for (let q = 0; q < 4; q++) {
    const rows = range(4).map((k) => `v128.load(p${k}, ${q * 16})`);
    const cols = range(4).map((w) => `m${q * 4 + w}`);
    loads.push(transpose(rows, cols, `t${q}_`, i2));
  }
  const stores: string[] = [];
  for (let half = 0; half < 2; half++) {
    const rows = range(4).map((w) => `h${half * 4 + w}`);
    const cols = range(4).map((k) => `o${half}_${k}`);
    stores.push(
      `${transpose(rows, cols, `s${half}_`, i)}\n${range(4)
        .map((k) => `${i}v128.store(out, o${half}_${k}, ${k * 32 + half * 16});`)
        .join("\n")}`,
    );
  }
  return `/**
 * Hashes four equally long inputs at once, one per i32x4 lane (BLAKE3's "hash_many"): the inputs
 * start \`stride\` bytes apart and are \`blocks\` full 64-byte blocks long. Lane k uses counter
 * \`counter + k\` when \`step\` is 1 (chunks) or \`counter\` when 0 (parents). The four 32-byte
 * chaining values are written contiguously at \`out\`, which may overlap the first input.
 */
export function hash4(
  input: usize,
  stride: usize,
  blocks: i32,
  key: usize,
  counter: u64,
  step: u64,
  flags: u32,
  flagsStart: u32,
  flagsEnd: u32,
  out: usize,
): void {
${range(8)
  .map((n) => `${i}let h${n} = i32x4.splat(load<i32>(key, ${n * 4}));`)
  .join("\n")}
${i}const rot16 = v128.load(ROT16);
${i}const rot8 = v128.load(ROT8);
${i}const c1 = counter + step;
${i}const c2 = c1 + step;
${i}const c3 = c2 + step;
${i}let lo = i32x4.splat(<i32>counter);
${i}lo = i32x4.replace_lane(lo, 1, <i32>c1);
${i}lo = i32x4.replace_lane(lo, 2, <i32>c2);
${i}lo = i32x4.replace_lane(lo, 3, <i32>c3);
${i}let hi = i32x4.splat(<i32>(counter >>> 32));
${i}hi = i32x4.replace_lane(hi, 1, <i32>(c1 >>> 32));
${i}hi = i32x4.replace_lane(hi, 2, <i32>(c2 >>> 32));
${i}hi = i32x4.replace_lane(hi, 3, <i32>(c3 >>> 32));
${i}const len = i32x4.splat(64);
${i}let blockFlags = flags | flagsStart;
${i}for (let b = 0; b < blocks; b++) {
${i2}if (b === blocks - 1) blockFlags |= flagsEnd;
${i2}const p0 = input + (<usize>b << 6);
${range(3)
  .map((k) => `${i2}const p${k + 1} = p${k} + stride;`)
  .join("\n")}
${loads.join("\n")}
${range(8)
  .map((n) => `${i2}let v${n} = h${n};`)
  .join("\n")}
${range(4)
  .map((n) => `${i2}let v${n + 8} = i32x4.splat(${hex(IV[n] as number)});`)
  .join("\n")}
${i2}let v12 = lo;
${i2}let v13 = hi;
${i2}let v14 = len;
${i2}let v15 = i32x4.splat(blockFlags);
${rounds(simdOps, i2)}
${range(8)
  .map((n) => `${i2}h${n} = v128.xor(v${n}, v${n + 8});`)
  .join("\n")}
${i2}blockFlags = flags;
${i}}
${stores.join("\n")}
}
`;
}

const masks = (n: number) =>
  `const ROT${n} = memory.data<u8>([${[0, 4, 8, 12].flatMap((w) => (BYTE_ROT[n] as number[]).map((i) => w + i)).join(", ")}]);`;
const header = `// GENERATED by wasm/tools/gen-kernels.ts — do not edit by hand.
// BLAKE3 compression kernels (https://github.com/BLAKE3-team/BLAKE3-specs), fully unrolled.
`;
const target = new URL("../assembly/kernels.ts", import.meta.url);
writeFileSync(target, `${header}\n${masks(16)}\n${masks(8)}\n\n${scalarKernel()}\n${simdKernel()}`);
console.log(`wrote ${target.pathname}`);
