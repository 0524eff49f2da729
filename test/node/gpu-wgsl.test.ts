import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareF32, f32FromBytes } from "../../client/kernels/compare.ts";
import { DeviceLostError, runWgslTask, TaskError } from "../../client/kernels/gpu/wgsl.ts";
import { planTasks } from "../../client/kernels/plan.ts";
import { type NodeGpu, nodeGpu } from "../../client/node/gpu.ts";
import { WgslSpec, type WgslTask } from "../../protocol/jobs.ts";

// The custom-kernel runner on Dawn (SwiftShader here): real shaders, real compiler errors.

let gpu: NodeGpu; // Dawn crashes the process if its instance is collected while a device lives.
let device: GPUDevice;
beforeAll(async () => {
  gpu = await nodeGpu();
  device = await gpu.adapter.requestDevice();
});
afterAll(() => device?.destroy());

const CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const bytesOf = (a: Float32Array | Uint32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const base64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const u32s = (b: Uint8Array) => new Uint32Array(b.slice().buffer);
const tasks = (spec: WgslSpec) => planTasks(spec, "job") as WgslTask[];

// out = a·x + y + sqrt(i) for i < n; hits[i % 4] counts the invocations that wrote.
const SAXPY = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> hits: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: array<vec4<u32>, 1>;

@compute @workgroup_size(64)
fn saxpy(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = params[0].x;
  let a = bitcast<f32>(params[0].y);
  let i = id.x;
  if (i >= n) { return; }
  out[i] = a * x[i] + y[i] + sqrt(f32(i));
  atomicAdd(&hits[i % 4u], 1u);
}
`;

describe("runWgslTask", () => {
  const n = 1000;
  const x = Float32Array.from({ length: n }, (_, i) => (i % 17) - 8.5);
  const y = Float32Array.from({ length: n }, (_, i) => i / 3);
  const f32bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0] as number;
  const saxpy = WgslSpec.parse({
    kind: "wgsl",
    source: SAXPY,
    entry_point: "saxpy",
    inputs: [
      { binding: 0, data: base64(bytesOf(x)) },
      { binding: 1, cid: CID },
    ],
    // Listed out of binding order: the result follows this list.
    outputs: [
      { binding: 3, size: 4 * n },
      { binding: 2, size: 16 },
    ],
    params_binding: 4,
    dispatches: [
      { workgroups: [16], params: [n, f32bits(2.5)] },
      { workgroups: [2], params: [100, f32bits(-1)] },
    ],
    comparator: { type: "f32", rel_tol: 1e-5, abs_tol: 1e-5 },
  });

  it("runs a shader with params; outputs come back in spec order, f32 within tolerance", async () => {
    for (const [k, task] of tasks(saxpy).entries()) {
      const [count, a] = k === 0 ? [n, 2.5] : [100, -1];
      const out = await runWgslTask(device, saxpy, task, [bytesOf(x), bytesOf(y)]);
      expect(out.length).toBe(4 * n + 16);
      const expected = Float32Array.from({ length: n }, (_, i) =>
        i < count ? a * (x[i] as number) + (y[i] as number) + Math.sqrt(i) : 0,
      );
      const got = f32FromBytes(out.subarray(0, 4 * n)) as Float32Array;
      expect(compareF32(got, expected, { rel_tol: 1e-5, abs_tol: 1e-5 })).toMatchObject({
        ok: true,
      });
      // Outputs start zero-filled: the values past `count` were never written.
      expect(got.subarray(count).every((v) => v === 0)).toBe(true);
      expect([...u32s(out.subarray(4 * n))]).toEqual(
        [0, 1, 2, 3].map((r) => Math.ceil((count - r) / 4)),
      );
    }
  });

  it("computes integers exactly: per-workgroup prefix sums with an offset param", async () => {
    const source = `
      @group(0) @binding(0) var<storage, read> data: array<u32>;
      @group(0) @binding(1) var<storage, read_write> sums: array<u32>;
      @group(0) @binding(7) var<uniform> p: vec4<u32>;
      var<workgroup> tile: array<u32, 64>;
      @compute @workgroup_size(64)
      fn scan(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) l: u32) {
        tile[l] = data[g.x] * p.x;
        workgroupBarrier();
        for (var s = 1u; s < 64u; s <<= 1u) {
          let v = select(0u, tile[l - s], l >= s);
          workgroupBarrier();
          tile[l] += v;
          workgroupBarrier();
        }
        sums[g.x] = tile[l] + p.y;
      }`;
    const data = Uint32Array.from({ length: 256 }, (_, i) => (i * 2_654_435_761) >>> 0);
    const spec = WgslSpec.parse({
      kind: "wgsl",
      source,
      entry_point: "scan",
      inputs: [{ binding: 0, data: base64(bytesOf(data)) }],
      outputs: [{ binding: 1, size: 1024 }],
      params_binding: 7,
      dispatches: [{ workgroups: [4, 1, 1], params: [3, 0xffff_fff0] }],
    });
    const out = await runWgslTask(device, spec, tasks(spec)[0] as WgslTask, [bytesOf(data)]);
    const expected = new Uint32Array(256);
    let sum = 0;
    for (let i = 0; i < 256; i++) {
      sum = ((i % 64 === 0 ? 0 : sum) + Math.imul(data[i] as number, 3)) >>> 0;
      expected[i] = (sum + 0xffff_fff0) >>> 0;
    }
    expect(out).toEqual(bytesOf(expected));
  });

  const simple = (source: string, extra: Partial<WgslSpec> = {}) =>
    WgslSpec.parse({
      kind: "wgsl",
      source,
      entry_point: "main",
      outputs: [{ binding: 0, size: 16 }],
      dispatches: [{ workgroups: [1] }],
      ...extra,
    });
  const run = (spec: WgslSpec, inputs: Uint8Array[] = []) =>
    runWgslTask(device, spec, tasks(spec)[0] as WgslTask, inputs);
  const OK = `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { o[i] = i * 7u; }`;

  it("reports a syntax error as a TaskError naming its line and column", async () => {
    const spec = simple(`@group(0) @binding(0) var<storage, read_write> o: array<u32>;

@compute @workgroup_size(1) fn main() {
  let v = 3u
  o[0] = v;
}`);
    const err = await run(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as Error).message).toMatch(/^the shader does not compile: 5:3: /);
    // Compile errors are remembered with the pipeline, and the device is still fine.
    await expect(run(spec)).rejects.toThrow(TaskError);
    expect(u32s(await run(simple(OK)))).toEqual(Uint32Array.of(0, 7, 14, 21));
  });

  it("refuses an out-of-limits dispatch, or one the spec does not hold, with a TaskError", async () => {
    const spec = simple(OK);
    // As if the spec had been accepted under larger limits: the device allows 65 535 per dimension.
    const big = {
      ...spec,
      dispatches: [{ workgroups: [70_000, 1, 1] as [number, number, number], params: [] }],
    };
    await expect(run(big)).rejects.toThrow(
      new TaskError("workgroups 70000×1×1: each must be 1..65535"),
    );
    const task = tasks(spec)[0] as WgslTask;
    const forged = {
      ...task,
      dispatch: { ...task.dispatch, workgroups: [2, 1, 1] as [number, number, number] },
    };
    await expect(runWgslTask(device, spec, forged, [])).rejects.toThrow(
      /differs from the spec's dispatch 0/,
    );
    const huge = { ...spec, outputs: [{ binding: 0, size: 2 ** 28 }] };
    await expect(run(huge)).rejects.toThrow(TaskError);
  });

  it("refuses bindings that disagree with the spec", async () => {
    const withInput = { inputs: [{ binding: 2, data: "" }] };
    const cases: [WgslSpec, RegExp][] = [
      [
        simple(`${OK}\n@group(0) @binding(2) var<storage, read_write> src: array<u32>;`, withInput),
        /^3: 'src' at @binding\(2\) is the spec's input: declare it var<storage, read>, not var<storage, read_write>$/,
      ],
      [
        simple(`${OK}\n@group(0) @binding(2) var<storage> p: array<u32>;`, { params_binding: 2 }),
        /^3: 'p' at @binding\(2\) is the spec's params: declare it var<uniform>/,
      ],
      [
        simple(`${OK}\n@group(0) @binding(5) var<storage, read> extra: array<u32>;`),
        /^3: 'extra' at @binding\(5\) is not an input/,
      ],
      [simple(OK.replace("@group(0)", "@group(1)")), /^1: 'o' is in @group\(1\)/],
    ];
    for (const [spec, message] of cases)
      await expect(
        run(
          spec,
          spec.inputs.map(() => new Uint8Array(0)),
        ),
      ).rejects.toThrow(message);
    // Bindings named by constants are left to WebGPU's check against the spec's layout.
    const named = simple(`const OUT = 1u;
@group(0) @binding(OUT) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(1) fn main() { o[0] = 1u; }`);
    await expect(run(named)).rejects.toThrow(/^the pipeline is invalid/);
    // An output the shader never declares would come back all zeros: refused.
    const missing = simple(OK, {
      outputs: [
        { binding: 0, size: 16 },
        { binding: 3, size: 4 },
      ],
    });
    await expect(run(missing)).rejects.toThrow("output binding 3 is not declared in the shader");
  });

  it("turns invalid pipelines and bindings into TaskErrors", async () => {
    // More invocations per workgroup than the device allows: the pipeline fails to validate.
    const wide = simple(OK.replace("workgroup_size(4)", "workgroup_size(1024)"));
    await expect(run(wide)).rejects.toThrow(/^the pipeline is invalid/);
    // The params uniform is padded to 16 bytes; a shader wanting 32 is refused at dispatch.
    const params = simple(
      `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@group(0) @binding(1) var<uniform> p: array<vec4<u32>, 2>;
@compute @workgroup_size(1) fn main() { o[0] = p[1].x; }`,
      { params_binding: 1, dispatches: [{ workgroups: [1, 1, 1], params: [1, 2] }] },
    );
    await expect(run(params)).rejects.toThrow(/^the dispatch is invalid/);
    // Binding an empty input as 4 zero bytes keeps a declared array valid.
    const copy = simple(
      `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
@compute @workgroup_size(1) fn main() { o[0] = arrayLength(&src) + src[0]; }`,
      { inputs: [{ binding: 2, data: "" }] },
    );
    expect(u32s(await run(copy, [new Uint8Array(0)]))).toEqual(Uint32Array.of(1, 0, 0, 0));
  });

  it("throws DeviceLostError when the device is gone", async () => {
    const adapter = await gpu.gpu.requestAdapter();
    const other = await (adapter as GPUAdapter).requestDevice();
    const spec = simple(OK);
    expect(u32s(await runWgslTask(other, spec, tasks(spec)[0] as WgslTask, []))).toEqual(
      Uint32Array.of(0, 7, 14, 21),
    );
    other.destroy();
    const err = await runWgslTask(other, spec, tasks(spec)[0] as WgslTask, []).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeviceLostError);
    expect((err as DeviceLostError).reason).toBe("destroyed");
  });
});
