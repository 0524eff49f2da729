/**
 * The `render` kind in WGSL: the CPU reference (`client/kernels/render.ts` and `render/*.ts`,
 * stated in docs/kernels.md) line for line in f32, plus a BVH (`bvh.ts`) in place of the
 * reference's linear scan. One invocation traces one pixel of the tile for the dispatch's run of
 * samples and adds the sum to `accum`; the host splits a task's samples over several dispatches
 * and divides by the count at the end.
 *
 * What must agree with the reference exactly, and does:
 * - the random numbers: `pcg`, the key nesting and the counters are u32 arithmetic, which WGSL
 *   wraps modulo 2³² like `Math.imul`/`>>> 0`, and `draw` is exact in f32, so both sides draw
 *   bit-identical numbers for the same (seed, pixel, sample, counter);
 * - which counter each decision uses (jitter 0, 1; hit b uses 4(b+1)+0, 1 for the direction and
 *   +2 for glass), so a path consumes the same numbers at the same bounce;
 * - the order of tests inside each branch (the nearest hit with t > tMin, exact ties to the
 *   lower reference index, the near sphere root unless ≤ tMin, then the far one; absorption
 *   tests in the reference's order), so a path branches the same way whenever rounding does not
 *   decide the branch.
 * Where f32 has a more accurate way to the same quantity than the reference's float64 formula
 * rewritten in f32, the kernel takes it (noted at each place): the reference's float64 result is
 * the target, and a closer f32 result makes fewer branches flip.
 *
 * No infinities or NaNs are produced on purpose: WGSL lets implementations assume finite math,
 * so "no hit" is a large finite distance and the slab test never multiplies 0 by ∞.
 */
export const RENDER_WGSL = /* wgsl */ `
struct Params {
  tile: vec4u,      // x, y (absolute, first row of this band), width, rows
  image: vec4u,     // image width, image height, seed, max_bounces
  work: vec4u,      // first sample of this dispatch, samples in it, BVH nodes, first plane slot
  counts: vec4u,    // planes, -, -, -
  origin: vec4f,    // camera position
  forward: vec4f,
  right: vec4f,
  up: vec4f,        // up' = right × forward
  half: vec4f,      // half width, half height of the image plane at distance 1
  sky_top: vec4f,
  sky_bottom: vec4f,
}

struct Node {
  lo: vec3f,
  left_or_first: u32,  // interior: left child (right is +1); leaf: first primitive slot
  hi: vec3f,
  count: u32,          // 0 for interior nodes
}

// One primitive, 64 bytes. Sphere: a = center, b = (radius, radius², 1/radius).
// Plane: a = point, n = unit normal. Triangle: a = v0, b = e1, c = e2, n = unit normal.
// All derived values were computed in float64 on the host exactly as the reference prepares
// them (prepareScene), then rounded once to f32.
struct Prim {
  a: vec3f,
  material: u32,
  b: vec3f,
  id: u32,            // reference order: spheres, planes, then triangles; breaks exact ties
  c: vec3f,
  kind: u32,
  n: vec3f,
  pad: u32,
}

struct Material {
  color: vec3f,       // albedo, or radiance for emissive
  kind: u32,
  fuzz: f32,          // metal
  ior: f32,           // glass: η when leaving (back face)
  inv_ior: f32,       // glass: η when entering (front face), 1/ior in float64
  r0: f32,            // glass: ((1 − η)/(1 + η))², the same for η and 1/η
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> nodes: array<Node>;
@group(0) @binding(2) var<storage, read> prims: array<Prim>;
@group(0) @binding(3) var<storage, read> materials: array<Material>;
@group(0) @binding(4) var<storage, read_write> accum: array<f32>;

const SPHERE: u32 = 0u;
const PLANE: u32 = 1u;
const TRIANGLE: u32 = 2u;

const DIFFUSE: u32 = 0u;
const METAL: u32 = 1u;
const GLASS: u32 = 2u;
const EMISSIVE: u32 = 3u;

const NONE: u32 = 0xffffffffu;
const FAR: f32 = 3.0e38;
// Ize, "Robust BVH Ray Traversal" (JCGT 2(2), 2013): widen the slab test's exit by 1 + 2γ₃.
const ROBUST: f32 = 1.0000004;
// Must exceed BVH_MAX_DEPTH in bvh.ts: one deferred child per level.
const BVH_STACK: u32 = 64u;

// rng.ts: PCG-RXS-M-XS, u32 wrapping arithmetic.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// rng.ts draw(key, k): 24 bits, exactly representable, so identical to the reference's value.
fn draw(key: u32, k: u32) -> f32 {
  return f32(pcg(key + k) >> 8u) * (1.0 / 16777216.0);
}

// (cos 2πu, sin 2πu) for a draw u. The reference evaluates Math.cos/Math.sin of 2π·u in
// float64; WGSL's cos/sin only promise an absolute error of 2⁻¹¹, which would bend every
// diffuse and fuzzy bounce by up to 5e−4 rad and make edges flip. u has 24 bits, so the
// reduction to a quadrant is exact: u = q/4 + r with q = round(4u), |r| ≤ 1/8 exact in f32;
// then x = 2πr ∈ [−π/4, π/4] and Cephes' sinf/cosf polynomials give about 1 ulp.
fn cos_sin_turns(u: f32) -> vec2f {
  let q = round(4.0 * u);
  let x = (u - 0.25 * q) * 6.28318530717958647692;
  let z = x * x;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z
    - 0.5 * z + 1.0;
  switch (u32(q) & 3u) {
    case 0u: { return vec2f(c, s); }
    case 1u: { return vec2f(-s, c); }
    case 2u: { return vec2f(-c, -s); }
    default: { return vec2f(s, -c); }
  }
}

// material.ts unitSphere(u0, u1): z = 1 − 2u0, r = √max(0, 1 − z²), φ = 2πu1.
// 1 − z² is computed as 4·u0·(1 − u0): equal for z = 1 − 2u0, and both factors are exact in f32
// (u0 has 24 bits), so it is one rounding away from the reference's value, where 1 − z·z in f32
// would cancel near the poles.
fn unit_sphere(u0: f32, u1: f32) -> vec3f {
  let z = 1.0 - 2.0 * u0;
  let r = sqrt(max(0.0, 4.0 * u0 * (1.0 - u0)));
  let cs = cos_sin_turns(u1);
  return vec3f(r * cs.x, r * cs.y, z);
}

struct Hit {
  t: f32,
  id: u32,
  slot: u32,
}

// intersect.ts, one primitive. Keeps the nearest hit with t > tMin; an exact tie goes to the
// lower reference index, which is what the reference's scan order (spheres, planes, triangles,
// skipping t >= best) yields whatever order the BVH visits them in.
fn test_prim(slot: u32, o: vec3f, d: vec3f, t_min: f32, hit: ptr<function, Hit>) {
  let p = prims[slot];
  var t: f32;
  if (p.kind == SPHERE) {
    let oc = o - p.a;
    let b = dot(oc, d);
    // disc = r² − |oc − b·d|² (Haines et al., "Precision Improvements for Ray/Sphere
    // Intersection", Ray Tracing Gems ch. 7) equals the reference's b² − (|oc|² − r²) for unit d
    // but does not cancel catastrophically in f32 when the sphere is far compared to its radius.
    let f = oc - b * d;
    let disc = p.b.y - dot(f, f);
    if (disc < 0.0) { return; }
    let root = sqrt(disc);
    t = -b - root;
    if (t <= t_min) { t = -b + root; }
  } else if (p.kind == TRIANGLE) {
    // Möller–Trumbore exactly as the reference orders it.
    let pv = cross(d, p.c);
    let det = dot(p.b, pv);
    if (abs(det) < 1e-12) { return; }
    let inv = 1.0 / det;
    let tv = o - p.a;
    let u = dot(tv, pv) * inv;
    if (u < 0.0 || u > 1.0) { return; }
    let q = cross(tv, p.b);
    let v = dot(d, q) * inv;
    if (v < 0.0 || u + v > 1.0) { return; }
    t = dot(p.c, q) * inv;
  } else {
    let denom = dot(p.n, d);
    if (abs(denom) < 1e-9) { return; }
    t = dot(p.a - o, p.n) / denom;
  }
  if (t <= t_min) { return; }
  if (t < (*hit).t || (t == (*hit).t && p.id < (*hit).id)) {
    *hit = Hit(t, p.id, slot);
  }
}

// Entry distance of the ray into a node's box within [tMin, tMax], or FAR if it misses.
fn box_entry(node: u32, o: vec3f, inv_d: vec3f, t_min: f32, t_max: f32) -> f32 {
  let nd = nodes[node];
  let t0 = (nd.lo - o) * inv_d;
  let t1 = (nd.hi - o) * inv_d;
  let near = min(t0, t1);
  let far = max(t0, t1);
  let tn = max(max(near.x, near.y), max(near.z, t_min));
  let tf = min(min(far.x, far.y), min(far.z, t_max)) * ROBUST;
  return select(FAR, tn, tn <= tf);
}

fn intersect(o: vec3f, d: vec3f, t_min: f32) -> Hit {
  var hit = Hit(FAR, NONE, NONE);
  // Planes are unbounded: tested one by one, as the reference does.
  let plane_end = P.work.w + P.counts.x;
  for (var i = P.work.w; i < plane_end; i++) {
    test_prim(i, o, d, t_min, &hit);
  }
  if (P.work.z == 0u) { return hit; }
  // A zero direction component would make the slab test compute 0·∞; ±1e−20 instead moves the
  // ray by under 1e−13 over any scene (coordinates ≤ 1e6), far inside the boxes' padding.
  let tiny = vec3f(1e-20);
  let safe_d = select(d, select(tiny, -tiny, d < vec3f(0.0)), abs(d) < tiny);
  let inv_d = 1.0 / safe_d;
  var stack_node: array<u32, BVH_STACK>;
  var stack_t: array<f32, BVH_STACK>;
  var sp = 0u;
  let root_t = box_entry(0u, o, inv_d, t_min, hit.t);
  if (root_t < FAR) {
    stack_node[0] = 0u;
    stack_t[0] = root_t;
    sp = 1u;
  }
  while (sp > 0u) {
    sp -= 1u;
    // A node deferred before a nearer hit was found may now lie behind it (ties still visit).
    if (stack_t[sp] > hit.t) { continue; }
    var node = stack_node[sp];
    loop {
      let nd = nodes[node];
      if (nd.count > 0u) {
        for (var i = nd.left_or_first; i < nd.left_or_first + nd.count; i++) {
          test_prim(i, o, d, t_min, &hit);
        }
        break;
      }
      let l = nd.left_or_first;
      let tl = box_entry(l, o, inv_d, t_min, hit.t);
      let tr = box_entry(l + 1u, o, inv_d, t_min, hit.t);
      let swap = tr < tl;
      let near_t = select(tl, tr, swap);
      let far_t = select(tr, tl, swap);
      if (near_t >= FAR) { break; }
      if (far_t < FAR) {
        stack_node[sp] = select(l + 1u, l, swap);
        stack_t[sp] = far_t;
        sp += 1u;
      }
      node = select(l, l + 1u, swap);
    }
  }
  return hit;
}

// render.ts sky(d).
fn sky(d: vec3f) -> vec3f {
  let f = (d.y + 1.0) / 2.0;
  return P.sky_bottom.xyz + (P.sky_top.xyz - P.sky_bottom.xyz) * f;
}

// render.ts tracePath with material.ts scatter inlined; the same early returns in the same order.
fn trace_path(dir: vec3f, key: u32) -> vec3f {
  var o = P.origin.xyz;
  var d = dir;
  var throughput = vec3f(1.0);
  let max_bounces = P.image.w;
  for (var bounce = 0u; bounce <= max_bounces; bounce++) {
    let t_min = 1e-4 * (1.0 + max(max(abs(o.x), abs(o.y)), abs(o.z)));
    let hit = intersect(o, d, t_min);
    if (hit.slot == NONE) { return throughput * sky(d); }
    let p = prims[hit.slot];
    let m = materials[p.material];
    if (m.kind == EMISSIVE) { return throughput * m.color; }
    if (bounce == max_bounces) { return vec3f(0.0); }
    // The reference's hit point o + t·d, which is also the next ray's origin.
    let x = o + hit.t * d;
    var ng = p.n;
    if (p.kind == SPHERE) { ng = (x - p.a) * p.b.z; }
    let front = dot(d, ng) < 0.0;
    let n = select(-ng, ng, front);
    let k = 4u * (bounce + 1u);
    var next: vec3f;
    if (m.kind == DIFFUSE) {
      let w = n + unit_sphere(draw(key, k), draw(key, k + 1u));
      if (dot(w, w) < 1e-12) { next = n; } else { next = normalize(w); }
    } else if (m.kind == METAL) {
      let w = reflect(d, n) + m.fuzz * unit_sphere(draw(key, k), draw(key, k + 1u));
      if (dot(w, w) < 1e-12) { return vec3f(0.0); }
      next = normalize(w);
      if (dot(next, n) <= 0.0) { return vec3f(0.0); }
    } else {
      let eta = select(m.ior, m.inv_ior, front);
      let cos_i = min(-dot(d, n), 1.0);
      // 1 − cos² as (1 − cos)(1 + cos): the same quantity, less cancellation in f32.
      let sin_i = sqrt(max(0.0, (1.0 - cos_i) * (1.0 + cos_i)));
      let c1 = 1.0 - cos_i;
      let c2 = c1 * c1;
      let fresnel = m.r0 + (1.0 - m.r0) * (c2 * c2 * c1);
      // The reference draws counter 4(b+1)+2 only when the path does not reflect totally;
      // draws are stateless, so evaluating it here or not changes nothing.
      if (eta * sin_i > 1.0 || draw(key, k + 2u) < fresnel) {
        next = reflect(d, n);
      } else {
        let perp = (d + cos_i * n) * eta;
        let par = sqrt(abs(1.0 - dot(perp, perp)));
        next = normalize(perp - par * n);
      }
    }
    if (m.kind != GLASS) { throughput = throughput * m.color; }
    o = x;
    d = next;
  }
  return vec3f(0.0);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= P.tile.z || gid.y >= P.tile.w) { return; }
  let x = P.tile.x + gid.x;
  let y = P.tile.y + gid.y;
  let width = P.image.x;
  // rng.ts sampleKey: pcg(pcg(pcg(seed) + pixel) + sample), pixel counted in the whole image.
  let pixel_key = pcg(pcg(P.image.z) + y * width + x);
  var sum = vec3f(0.0);
  let end = P.work.x + P.work.y;
  for (var s = P.work.x; s < end; s++) {
    let key = pcg(pixel_key + s);
    // render.ts cameraRay: sx = (2(x + u0)/width − 1)·w, sy = (1 − 2(y + u1)/height)·h.
    let sx = ((2.0 * (f32(x) + draw(key, 0u))) / f32(width) - 1.0) * P.half.x;
    let sy = (1.0 - (2.0 * (f32(y) + draw(key, 1u))) / f32(P.image.y)) * P.half.y;
    let dir = normalize(P.forward.xyz + sx * P.right.xyz + sy * P.up.xyz);
    sum += trace_path(dir, key);
  }
  let i = (gid.y * P.tile.z + gid.x) * 3u;
  accum[i] += sum.x;
  accum[i + 1u] += sum.y;
  accum[i + 2u] += sum.z;
}
`;
