// Generates wasm/assembly/kernels.ts: the BLAKE3 compression function fully unrolled, for a
// single block (u32 locals) and for 4 and 8 independent inputs in i32x4 lanes. Unrolling by hand
// would be 7 rounds x 8 G calls of error-prone copy-paste; AssemblyScript has no macros and its
// functions cannot update the caller's locals, so a generator is the honest way to keep the
// state and message words in locals (registers) instead of memory.
// Run by wasm/build.ts before every build (deterministic); the output is
// gitignored, so the generator is the only source.
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
const shiftRot = (x: string, n: number) =>
  `v128.or(i32x4.shr_u(${x}, ${n}), i32x4.shl(${x}, ${32 - n}))`;
// Byte rotations are one pshufb with the mask in a register under relaxed SIMD (indices are all
// below 16, where relaxed_swizzle is fully specified). Plain SIMD128 builds (for browsers without
// relaxed SIMD) take the other branch: AssemblyScript folds the constant condition away.
const simdOps: Ops = {
  add3: (a, b, m) => `i32x4.add(i32x4.add(${a}, ${m}), ${b})`,
  add: (a, b) => `i32x4.add(${a}, ${b})`,
  xorRot: (a, b, n) => {
    const x = `v128.xor(${a}, ${b})`;
    if (!BYTE_ROT[n]) return shiftRot(x, n);
    const fallback =
      n === 16 ? `i8x16.shuffle(${x}, ${x}, ${byteLanes(16).join(", ")})` : shiftRot(x, n);
    return `ASC_FEATURE_RELAXED_SIMD ? i8x16.relaxed_swizzle(${x}, rot${n}) : ${fallback}`;
  },
};

function byteLanes(n: number): number[] {
  return [0, 4, 8, 12].flatMap((w) => (BYTE_ROT[n] as number[]).map((i) => w + i));
}

/**
 * The 7 rounds for `groups` independent states (prefix g0_, g1_ ... when more than one). Each
 * step of the G function is emitted for all 4 columns (then diagonals) of all groups before the
 * next step: V8 does not reschedule wasm, and BLAKE3's G is one long dependency chain, so the
 * interleaving is what keeps several chains in flight.
 */
function rounds(ops: Ops, indent: string, groups: string[]): string {
  const out: string[] = [];
  for (const order of schedule()) {
    for (const half of [0, 4]) {
      const steps = groups.flatMap((g) =>
        G_ARGS.slice(half, half + 4).map(([a, b, c, d], j) => {
          const i = half + j;
          const [va, vb, vc, vd] = [a, b, c, d].map((n) => `${g}v${n}`) as [
            string,
            string,
            string,
            string,
          ];
          const mx = `${g}m${order[2 * i]}`;
          const my = `${g}m${order[2 * i + 1]}`;
          return [
            `${va} = ${ops.add3(va, vb, mx)};`,
            `${vd} = ${ops.xorRot(vd, va, 16)};`,
            `${vc} = ${ops.add(vc, vd)};`,
            `${vb} = ${ops.xorRot(vb, vc, 12)};`,
            `${va} = ${ops.add3(va, vb, my)};`,
            `${vd} = ${ops.xorRot(vd, va, 8)};`,
            `${vc} = ${ops.add(vc, vd)};`,
            `${vb} = ${ops.xorRot(vb, vc, 7)};`,
          ];
        }),
      );
      for (let k = 0; k < 8; k++) for (const g of steps) out.push(g[k] as string);
    }
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
${rounds(scalarOps, i, [""])}
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

function simdKernel(groups: number): string {
  const lanes = 4 * groups;
  const gs = range(groups).map((g) => (groups === 1 ? "" : `g${g}_`));
  const i = "  ";
  const i2 = i + i;
  const perGroup = (f: (g: string, gi: number) => string) => gs.map(f).join("\n");
  const loads = perGroup((g, gi) =>
    range(4)
      .map((q) => {
        const rows = range(4).map((k) => `v128.load(p${gi * 4 + k}, ${q * 16})`);
        const cols = range(4).map((w) => `${g}m${q * 4 + w}`);
        return transpose(rows, cols, `${g}t${q}_`, i2);
      })
      .join("\n"),
  );
  const stores = perGroup((g, gi) =>
    range(2)
      .map((half) => {
        const rows = range(4).map((w) => `${g}h${half * 4 + w}`);
        const cols = range(4).map((k) => `${g}o${half}_${k}`);
        const store = range(4).map(
          (k) => `${i}v128.store(out, ${g}o${half}_${k}, ${(gi * 4 + k) * 32 + half * 16});`,
        );
        return `${transpose(rows, cols, `${g}s${half}_`, i)}\n${store.join("\n")}`;
      })
      .join("\n"),
  );
  const counters = perGroup((g, gi) => {
    const c = (k: number) => `c${gi * 4 + k}`;
    return [
      `let ${g}lo = i32x4.splat(<i32>${c(0)});`,
      ...range(3).map((k) => `${g}lo = i32x4.replace_lane(${g}lo, ${k + 1}, <i32>${c(k + 1)});`),
      `let ${g}hi = i32x4.splat(<i32>(${c(0)} >>> 32));`,
      ...range(3).map(
        (k) => `${g}hi = i32x4.replace_lane(${g}hi, ${k + 1}, <i32>(${c(k + 1)} >>> 32));`,
      ),
    ]
      .map((l) => i + l)
      .join("\n");
  });
  return `/**
 * Hashes ${lanes} equally long inputs at once, one per i32x4 lane${groups > 1 ? ` (${groups} interleaved groups of 4)` : ""}
 * (BLAKE3's "hash_many"): the inputs start \`stride\` bytes apart and are \`blocks\` full 64-byte
 * blocks long. Lane k uses counter \`counter + k * step\` (step 1 for chunks, 0 for parents).
 * The ${lanes} chaining values are written contiguously at \`out\`, which may overlap the input.
 */
export function hash${lanes}(
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
${perGroup((g) =>
  range(8)
    .map((n) => `${i}let ${g}h${n} = i32x4.splat(load<i32>(key, ${n * 4}));`)
    .join("\n"),
)}
${i}const rot16 = v128.load(ROT16);
${i}const rot8 = v128.load(ROT8);
${i}const c0 = counter;
${range(lanes - 1)
  .map((k) => `${i}const c${k + 1} = c${k} + step;`)
  .join("\n")}
${counters}
${i}const len = i32x4.splat(64);
${i}let blockFlags = flags | flagsStart;
${i}for (let b = 0; b < blocks; b++) {
${i2}if (b === blocks - 1) blockFlags |= flagsEnd;
${i2}const p0 = input + (<usize>b << 6);
${range(lanes - 1)
  .map((k) => `${i2}const p${k + 1} = p${k} + stride;`)
  .join("\n")}
${loads}
${i2}const vflags = i32x4.splat(blockFlags);
${perGroup((g) =>
  [
    ...range(8).map((n) => `${i2}let ${g}v${n} = ${g}h${n};`),
    ...range(4).map((n) => `${i2}let ${g}v${n + 8} = i32x4.splat(${hex(IV[n] as number)});`),
    `${i2}let ${g}v12 = ${g}lo;`,
    `${i2}let ${g}v13 = ${g}hi;`,
    `${i2}let ${g}v14 = len;`,
    `${i2}let ${g}v15 = vflags;`,
  ].join("\n"),
)}
${rounds(simdOps, i2, gs)}
${perGroup((g) =>
  range(8)
    .map((n) => `${i2}${g}h${n} = v128.xor(${g}v${n}, ${g}v${n + 8});`)
    .join("\n"),
)}
${i2}blockFlags = flags;
${i}}
${stores}
}
`;
}

const masks = (n: number) => `const ROT${n} = memory.data<u8>([${byteLanes(n).join(", ")}]);`;
const header = `// GENERATED by wasm/tools/gen-kernels.ts — do not edit by hand.
// BLAKE3 compression kernels (https://github.com/BLAKE3-team/BLAKE3-specs), fully unrolled.
`;
const target = new URL("../assembly/kernels.ts", import.meta.url);
writeFileSync(
  target,
  `${header}\n${masks(16)}\n${masks(8)}\n\n${scalarKernel()}\n${simdKernel(1)}\n${simdKernel(2)}`,
);
console.log(`wrote ${target.pathname}`);
