import { describe, expect, it } from "vitest";
import {
  JobSpec,
  MAX_INFERENCE_LAYERS,
  MAX_RENDER_SIZE,
  MAX_TRIANGLES,
  MAX_WGSL_DISPATCHES,
  TaskSpec,
} from "../../protocol/jobs.ts";
import { checkWgslSource } from "../../protocol/wgsl-check.ts";

const cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const scene = {
  camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
  sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
  materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
  spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
};
const render = { kind: "render", width: 64, height: 64, samples_per_pixel: 16, scene };
const inference = {
  kind: "inference",
  input: { cid, rows: 10, cols: 4 },
  layers: [{ weights: cid, biases: cid, outputs: 3, requant: { multiplier: 1 << 30, shift: 36 } }],
};
const wgsl = {
  kind: "wgsl",
  source: "@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) id: vec3u) {}",
  entry_point: "main",
  outputs: [{ binding: 0, size: 256 }],
  dispatches: [{ workgroups: [4] }],
};

/** The issues of a rejected spec as "path: message" lines. */
function issues(input: unknown): string[] {
  const r = JobSpec.safeParse(input);
  expect(r.success, "spec should be rejected").toBe(false);
  return (r.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("JobSpec", () => {
  it("accepts the three kinds with defaults filled in", () => {
    expect(JobSpec.parse(render)).toMatchObject({ replication: 2, max_bounces: 8, seed: 0 });
    expect(JobSpec.parse(inference)).toMatchObject({ replication: 2, input: { zero_point: 0 } });
    expect(JobSpec.parse(wgsl)).toMatchObject({
      comparator: { type: "exact" },
      dispatches: [{ workgroups: [4, 1, 1] }],
    });
    expect(JobSpec.parse({ ...render, replication: 5, max_price: 1_000_000 })).toMatchObject({
      replication: 5,
    });
  });

  it("rejects unknown kinds, replication out of 1..5 and fractional max_price", () => {
    expect(JobSpec.safeParse({ ...render, kind: "mine" }).success).toBe(false);
    expect(issues({ ...render, replication: 6 })[0]).toMatch(/^replication:/);
    expect(issues({ ...render, replication: 0 })[0]).toMatch(/^replication:/);
    expect(issues({ ...render, max_price: 1.5 })[0]).toMatch(/^max_price:/);
  });

  it("rejects invalid scenes with the offending path", () => {
    const bad = (s: Record<string, unknown>) => issues({ ...render, scene: { ...scene, ...s } });
    expect(bad({ spheres: [{ center: [0, 0, 0], radius: 1, material: 1 }] })).toEqual([
      "scene.spheres.0.material: material 1 does not exist (the scene has 1)",
    ]);
    expect(bad({ spheres: [{ center: [0, 0, 0], radius: 0, material: 0 }] })[0]).toMatch(
      /^scene\.spheres\.0\.radius:/,
    );
    expect(bad({ planes: [{ point: [0, 0, 0], normal: [0, 0, 0], material: 0 }] })).toEqual([
      "scene.planes.0.normal: normal is zero",
    ]);
    expect(bad({ camera: { position: [1, 1, 1], look_at: [1, 1, 1] } })).toEqual([
      "scene.camera.look_at: look_at equals position: the camera has no direction",
    ]);
    expect(bad({ camera: { position: [0, 0, 0], look_at: [0, 5, 0] } })).toEqual([
      "scene.camera.up: up is zero or parallel to the viewing direction",
    ]);
    expect(bad({ materials: [{ type: "diffuse", albedo: [2, 0, 0] }] })[0]).toMatch(
      /^scene\.materials\.0\.albedo\.0:/,
    );
    expect(bad({ materials: [{ type: "plasma" }] })[0]).toMatch(/^scene\.materials\.0/);
    expect(bad({ materials: [] })[0]).toMatch(/^scene\.materials:/);
    expect(bad({ spheres: [{ center: [0, Number.NaN, 0], radius: 1, material: 0 }] })[0]).toMatch(
      /^scene\.spheres\.0\.center\.1:/,
    );
    const mesh = {
      positions: [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
      ],
      triangles: [[0, 1, 3]],
      material: 0,
    };
    expect(bad({ meshes: [mesh] })).toEqual([
      "scene.meshes.0.triangles.0: vertex index out of range (the mesh has 3)",
    ]);
  });

  it("rejects oversize renders", () => {
    expect(issues({ ...render, width: MAX_RENDER_SIZE + 1 })[0]).toMatch(/^width:/);
    expect(issues({ ...render, samples_per_pixel: 0 })[0]).toMatch(/^samples_per_pixel:/);
    expect(issues({ ...render, width: 4096, height: 4096, samples_per_pixel: 257 })).toEqual([
      "samples_per_pixel: width × height × samples_per_pixel is over 4294967296",
    ]);
    expect(issues({ ...render, max_bounces: 17 })[0]).toMatch(/^max_bounces:/);
    const big = {
      positions: [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
      ],
      triangles: Array.from({ length: MAX_TRIANGLES / 2 + 1 }, () => [0, 1, 2]),
      material: 0,
    };
    expect(issues({ ...render, scene: { ...scene, meshes: [big, big] } })).toEqual([
      `scene.meshes: ${MAX_TRIANGLES + 2} triangles; at most ${MAX_TRIANGLES} per scene`,
    ]);
  });

  it("rejects bad CIDs, oversize and malformed inference jobs", () => {
    expect(issues({ ...inference, input: { ...inference.input, cid: "not-a-cid" } })).toEqual([
      "input.cid: not a CID (CIDv1 base32 'b…' or CIDv0 'Qm…')",
    ]);
    expect(
      JobSpec.safeParse({
        ...inference,
        input: { ...inference.input, cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG" },
      }).success,
    ).toBe(true);
    expect(
      issues({ ...inference, layers: [{ ...inference.layers[0], weights: "bafy" }] })[0],
    ).toMatch(/^layers\.0\.weights:/);
    const layer = inference.layers[0];
    expect(
      issues({ ...inference, layers: Array(MAX_INFERENCE_LAYERS + 1).fill(layer) })[0],
    ).toMatch(/^layers:/);
    expect(issues({ ...inference, input: { ...inference.input, cols: 4097 } })[0]).toMatch(
      /^input\.cols:/,
    );
    expect(
      issues({ ...inference, layers: [{ ...layer, requant: { multiplier: 0, shift: 1 } }] })[0],
    ).toMatch(/^layers\.0\.requant\.multiplier:/);
    expect(
      issues({ ...inference, layers: [{ ...layer, requant: { multiplier: 1, shift: 63 } }] })[0],
    ).toMatch(/^layers\.0\.requant\.shift:/);
    const wide = { ...layer, outputs: 4096 };
    expect(
      issues({
        ...inference,
        input: { ...inference.input, cols: 4096 },
        layers: Array(5).fill(wide),
      }),
    ).toEqual(["layers: 83886080 weights; at most 67108864 per job"]);
  });

  it("rejects malformed WGSL and oversize dispatches", () => {
    expect(issues({ ...wgsl, source: "  " })).toEqual(["source: source is empty"]);
    expect(issues({ ...wgsl, source: "fn main() {}" })).toEqual([
      "source: no @compute entry point",
    ]);
    expect(issues({ ...wgsl, entry_point: "run" })).toEqual(["source: no function named 'run'"]);
    expect(issues({ ...wgsl, source: `${wgsl.source}\nfn other( {}` })).toEqual([
      "source: unclosed '('",
    ]);
    expect(issues({ ...wgsl, entry_point: "1main" })[0]).toMatch(/^entry_point:/);
    expect(issues({ ...wgsl, dispatches: [{ workgroups: [65_536] }] })[0]).toMatch(
      /^dispatches\.0\.workgroups\.0:/,
    );
    expect(
      issues({ ...wgsl, dispatches: Array(MAX_WGSL_DISPATCHES + 1).fill({ workgroups: [1] }) })[0],
    ).toMatch(/^dispatches:/);
    expect(issues({ ...wgsl, outputs: [{ binding: 0, size: 6 }] })[0]).toMatch(
      /^outputs\.0\.size:/,
    );
    expect(issues({ ...wgsl, inputs: [{ binding: 0, cid }] })).toEqual([
      "outputs.0.binding: binding 0 is used twice",
    ]);
    expect(issues({ ...wgsl, inputs: [{ binding: 1, data: "not base64!" }] })[0]).toMatch(
      /^inputs\.0/,
    );
    expect(issues({ ...wgsl, dispatches: [{ workgroups: [1], params: [7] }] })).toEqual([
      "dispatches.0.params: params need a params_binding",
    ]);
  });
});

describe("checkWgslSource", () => {
  it("accepts attributes in any order and ignores comments", () => {
    expect(checkWgslSource("@workgroup_size(8, 8) @compute fn k() { }", "k")).toBeNull();
    expect(
      checkWgslSource(
        "// fn k( {\n/* @compute /* nested */ */ @compute @workgroup_size(1) fn k() {}",
        "k",
      ),
    ).toBeNull();
  });
  it("refuses an entry point that is not @compute", () => {
    expect(checkWgslSource("@compute @workgroup_size(1) fn a() {}\nfn k() {}", "k")).toBe(
      "function 'k' is not marked @compute",
    );
    expect(checkWgslSource("/* @compute fn k() {}", "k")).toBe("unterminated block comment");
  });
});

describe("TaskSpec", () => {
  it("parses each kind's slice", () => {
    expect(
      TaskSpec.parse({
        job_id: "job_1",
        task_index: 0,
        kind: "render",
        tile: { x: 0, y: 64, width: 64, height: 8 },
        samples: { start: 0, count: 16 },
      }).kind,
    ).toBe("render");
    expect(
      TaskSpec.safeParse({
        job_id: "job_1",
        task_index: 0,
        kind: "inference",
        rows: { start: 0, count: 0 },
      }).success,
    ).toBe(false);
  });
});
