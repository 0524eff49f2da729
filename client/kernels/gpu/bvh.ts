/**
 * A bounding volume hierarchy for the GPU path tracer (`render.wgsl.ts`), built on the host once
 * per scene: binned surface-area heuristic over the primitives' boxes, flattened so that node
 * `i`'s children are `left` and `left + 1` and every leaf covers a contiguous run of the
 * reordered primitives (the layout of Bikker's "How to build a BVH" series, which a stack-based
 * WGSL traversal reads with one 32-byte load per node).
 *
 * The tree changes only which primitives a ray is tested against, never the answer: the shader
 * keeps the nearest hit and breaks exact ties by the primitive's reference order, so any tree
 * gives the CPU reference's result. What the tree must guarantee is that it never hides a hit,
 * so node boxes are padded past f32 rounding (see `writeBox`).
 */

/** Bytes a node takes on the GPU: `lo: vec3f, left_or_first: u32, hi: vec3f, count: u32`. */
export const BVH_NODE_BYTES = 32;

/**
 * Deepest leaf the builder makes. The shader's traversal stack holds one deferred child per
 * level, so this must stay below its size (`BVH_STACK` in the WGSL); deeper subtrees become one
 * larger leaf, which is slower but still exact.
 */
export const BVH_MAX_DEPTH = 56;

const BINS = 16;
/** Leaves at most this large are kept when splitting does not pay. */
const MAX_LEAF = 4;
/** SAH cost of visiting a node relative to one primitive test. */
const TRAVERSAL_COST = 1;

export interface Bvh {
  /** `nodeCount` nodes of `BVH_NODE_BYTES` each; node 0 is the root. */
  nodes: ArrayBuffer;
  nodeCount: number;
  /** `order[i]` is the input box the i-th primitive slot holds (leaves index into slots). */
  order: Uint32Array;
  depth: number;
}

/**
 * Builds the tree over `boxes` (6 floats per primitive: lo x, y, z, hi x, y, z). An empty input
 * gives an empty tree (`nodeCount = 0`): the shader then skips traversal.
 */
export function buildBvh(boxes: Float64Array): Bvh {
  const n = boxes.length / 6;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  if (n === 0) return { nodes: new ArrayBuffer(0), nodeCount: 0, order, depth: 0 };
  const centroid = new Float64Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < 3; a++)
      centroid[i * 3 + a] = 0.5 * ((boxes[i * 6 + a] as number) + (boxes[i * 6 + 3 + a] as number));

  const nodes = new ArrayBuffer(Math.max(1, 2 * n - 1) * BVH_NODE_BYTES);
  const f32 = new Float32Array(nodes);
  const u32 = new Uint32Array(nodes);
  let nodeCount = 1;
  let depth = 0;
  // Explicit stack: meshes of 65 536 triangles would overflow recursion on some engines.
  const work: { node: number; start: number; end: number; depth: number }[] = [
    { node: 0, start: 0, end: n, depth: 0 },
  ];
  const binCount = new Uint32Array(BINS);
  const binBox = new Float64Array(BINS * 6);
  const rightArea = new Float64Array(BINS);
  const rightCount = new Uint32Array(BINS);
  while (work.length > 0) {
    const job = work.pop() as (typeof work)[number];
    const { node, start, end } = job;
    depth = Math.max(depth, job.depth);
    const box = emptyBox();
    const cbox = emptyBox();
    for (let i = start; i < end; i++) {
      const p = order[i] as number;
      grow(box, boxes, p * 6, p * 6 + 3);
      grow(cbox, centroid, p * 3, p * 3);
    }
    writeBox(f32, node, box);
    const count = end - start;
    const leaf = () => {
      u32[node * 8 + 3] = start;
      u32[node * 8 + 7] = count;
    };
    if (count <= 1 || job.depth >= BVH_MAX_DEPTH) {
      leaf();
      continue;
    }
    // Best binned split over the three axes.
    let bestCost = Number.POSITIVE_INFINITY;
    let bestAxis = -1;
    let bestBin = 0;
    for (let a = 0; a < 3; a++) {
      const lo = cbox[a] as number;
      const extent = (cbox[3 + a] as number) - lo;
      if (!(extent > 0)) continue;
      const scale = BINS / extent;
      binCount.fill(0);
      for (let b = 0; b < BINS; b++) binBox.set(EMPTY, b * 6);
      for (let i = start; i < end; i++) {
        const p = order[i] as number;
        const b = Math.min(BINS - 1, Math.floor(((centroid[p * 3 + a] as number) - lo) * scale));
        binCount[b] = (binCount[b] as number) + 1;
        growAt(binBox, b * 6, boxes, p * 6);
      }
      const acc = emptyBox();
      let accCount = 0;
      for (let b = BINS - 1; b > 0; b--) {
        accCount += binCount[b] as number;
        growAt(acc, 0, binBox, b * 6);
        rightCount[b] = accCount;
        rightArea[b] = area(acc);
      }
      acc.set(EMPTY);
      accCount = 0;
      for (let b = 1; b < BINS; b++) {
        accCount += binCount[b - 1] as number;
        growAt(acc, 0, binBox, (b - 1) * 6);
        const rc = rightCount[b] as number;
        if (accCount === 0 || rc === 0) continue;
        const cost = accCount * area(acc) + rc * (rightArea[b] as number);
        if (cost < bestCost) {
          bestCost = cost;
          bestAxis = a;
          bestBin = b;
        }
      }
    }
    let mid: number;
    if (bestAxis < 0) {
      // Every centroid coincides (stacked or duplicated primitives): no plane separates them.
      if (count <= MAX_LEAF) {
        leaf();
        continue;
      }
      mid = start + (count >> 1);
    } else {
      const leafCost = count * area(box);
      if (count <= MAX_LEAF && bestCost + TRAVERSAL_COST * area(box) >= leafCost) {
        leaf();
        continue;
      }
      const lo = cbox[bestAxis] as number;
      const scale = BINS / ((cbox[3 + bestAxis] as number) - lo);
      // In-place partition of [start, end) by the chosen bin.
      let i = start;
      let j = end - 1;
      while (i <= j) {
        const p = order[i] as number;
        const b = Math.min(
          BINS - 1,
          Math.floor(((centroid[p * 3 + bestAxis] as number) - lo) * scale),
        );
        if (b < bestBin) i++;
        else {
          order[i] = order[j] as number;
          order[j] = p;
          j--;
        }
      }
      mid = i;
    }
    const left = nodeCount;
    nodeCount += 2;
    u32[node * 8 + 3] = left;
    u32[node * 8 + 7] = 0;
    work.push({ node: left, start, end: mid, depth: job.depth + 1 });
    work.push({ node: left + 1, start: mid, end, depth: job.depth + 1 });
  }
  return { nodes: nodes.slice(0, nodeCount * BVH_NODE_BYTES), nodeCount, order, depth };
}

const EMPTY = [
  Number.POSITIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
];

function emptyBox(): Float64Array {
  return Float64Array.from(EMPTY);
}

/** Grows `box` by the points at `src[lo..lo+3]` and `src[hi..hi+3]`. */
function grow(box: Float64Array, src: Float64Array, lo: number, hi: number): void {
  for (let a = 0; a < 3; a++) {
    box[a] = Math.min(box[a] as number, src[lo + a] as number);
    box[3 + a] = Math.max(box[3 + a] as number, src[hi + a] as number);
  }
}

function growAt(dst: Float64Array, at: number, src: Float64Array, from: number): void {
  for (let a = 0; a < 3; a++) {
    dst[at + a] = Math.min(dst[at + a] as number, src[from + a] as number);
    dst[at + 3 + a] = Math.max(dst[at + 3 + a] as number, src[from + 3 + a] as number);
  }
}

function area(b: Float64Array): number {
  const x = (b[3] as number) - (b[0] as number);
  const y = (b[4] as number) - (b[1] as number);
  const z = (b[5] as number) - (b[2] as number);
  return x * y + y * z + z * x;
}

/**
 * Writes a node's box as f32, grown by `2^−20 × max|coordinate|` on every side. The box is
 * computed from the float64 geometry, but the shader intersects the f32-rounded geometry
 * (`v0 + u·e1 + v·e2`, sphere roots) with f32 slab tests, each off by a few ulps; the padding
 * (16 ulps of the box's largest coordinate, more than rounding to f32 can take back) keeps every
 * hit the reference sees inside its boxes. Flat boxes (an axis-aligned quad) get thickness too.
 */
function writeBox(f32: Float32Array, node: number, box: Float64Array): void {
  let m = 0;
  for (let a = 0; a < 6; a++) m = Math.max(m, Math.abs(box[a] as number));
  const pad = m * 2 ** -20;
  for (let a = 0; a < 3; a++) {
    f32[node * 8 + a] = (box[a] as number) - pad;
    f32[node * 8 + 4 + a] = (box[3 + a] as number) + pad;
  }
}
