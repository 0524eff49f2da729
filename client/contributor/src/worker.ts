/// <reference lib="webworker" />
import type { TaskFrame } from "../../../protocol/contributor.ts";
import { createGpuRunner, type GpuRunner } from "../../kernels/gpu/index.ts";
import { f32FromBytes, toRgba8 } from "../../kernels/index.ts";
import {
  ContributorClient,
  type Identity,
  keepConnected,
  toBase64,
} from "../../node/contributor-client.ts";
import type { FromWorker, State, ToWorker } from "./messages.ts";

/**
 * The contributor's engine, in a dedicated worker: WebGPU device and kernels, the protocol
 * client, the time budget. The page only draws what this reports.
 *
 * Budget: after a task that kept the GPU busy for `t`, the worker rests `t·(1/budget − 1)`, so
 * the GPU is busy at most `budget` of the time. Pause closes the socket (running tasks go back
 * to the network at once); resume reconnects. A lost device is recreated for the next task.
 */
declare const self: DedicatedWorkerGlobalScope;

const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

let base = "";
let payout: string | null = null;
let identity: Identity | null = null;
let budget = 1;
let connection: ReturnType<typeof keepConnected> | null = null;
let runner: Promise<GpuRunner> | null = null;
let adapter: GPUAdapter | null = null;
let state: State = "connecting";
const totals = { tasks: 0, accepted: 0, rejected: 0, verified: 0, pending: 0 };
const pendingSignatures = new Map<number, (signature: string | null) => void>();
let nextSignature = 0;

function setState(next: State, detail?: string) {
  state = next;
  post({ type: "state", state: next, ...(detail ? { detail } : {}) });
}

function sendTotals() {
  post({ type: "totals", ...totals });
}

async function gpu(): Promise<GpuRunner> {
  if (runner) return runner;
  runner = (async () => {
    adapter ??= await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error("no WebGPU adapter");
    const device = await adapter.requestDevice();
    device.lost.then((info) => {
      if (info.reason !== "destroyed") runner = null; // made again for the next task
    });
    const wgslFeatures = new Set(navigator.gpu.wgslLanguageFeatures ?? []);
    return createGpuRunner({
      device,
      wgslFeatures,
      fetchBlob: async (cid) => {
        const res = await fetch(new URL(`/ipfs/${cid}`, base));
        if (!res.ok) throw new Error(`gateway answered ${res.status} for ${cid}`);
        return new Uint8Array(await res.arrayBuffer());
      },
    });
  })();
  runner.catch(() => {
    runner = null;
  });
  return runner;
}

async function kernel(task: TaskFrame): Promise<Uint8Array> {
  setState("running");
  post({ type: "task", task_id: task.task_id, kind: task.job.kind, phase: "start" });
  const t0 = performance.now();
  try {
    const output = await (await gpu())(task);
    const ms = performance.now() - t0;
    post({ type: "task", task_id: task.task_id, kind: task.job.kind, phase: "done", ms });
    totals.pending++;
    sendTotals();
    preview(task, output);
    // Stay within the budget before taking the next task.
    if (budget < 1) await new Promise((r) => setTimeout(r, ms * (1 / budget - 1)));
    return output;
  } catch (err) {
    post({ type: "task", task_id: task.task_id, kind: task.job.kind, phase: "failed" });
    throw err;
  } finally {
    if (state === "running") setState("waiting");
  }
}

/** Sends a render tile to the page's preview, tone-mapped like the final image. */
function preview(task: TaskFrame, output: Uint8Array) {
  if (task.job.kind !== "render" || task.task.kind !== "render") return;
  const pixels = f32FromBytes(output);
  if (!pixels) return;
  const rgba = toRgba8(pixels);
  const { x, y, width: w, height: h } = task.task.tile;
  post(
    {
      type: "tile",
      job_id: task.job_id,
      width: task.job.width,
      height: task.job.height,
      x,
      y,
      w,
      h,
      rgba,
    },
    [rgba.buffer],
  );
}

function connect() {
  const me = identity as Identity;
  connection = keepConnected(
    async () => {
      setState("connecting");
      const client = new ContributorClient({
        base,
        pool: "browser",
        slots: 1,
        identity: me,
        ...(payout ? { payout } : {}),
        kernel,
        capabilities: adapter
          ? {
              features: [...adapter.features].slice(0, 64),
              limits: {
                maxBufferSize: adapter.limits.maxBufferSize,
                maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
                maxComputeWorkgroupsPerDimension: adapter.limits.maxComputeWorkgroupsPerDimension,
                maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
              },
              adapter: `${adapter.info.vendor} ${adapter.info.architecture}`.slice(0, 200),
            }
          : {},
        onFrame: (frame) => {
          if (frame.type === "task") totals.tasks++;
          if (frame.type === "verdict") {
            totals.pending = Math.max(0, totals.pending - 1);
            if (frame.status === "accepted") totals.accepted++;
            else totals.rejected++;
            totals.verified += frame.earned;
          }
          if (frame.type === "error" && frame.task_id)
            totals.pending = Math.max(0, totals.pending - 1);
          sendTotals();
        },
      });
      await client.start();
      setState("waiting");
      return client;
    },
    (event, detail) => {
      if (event !== "connected") setState("offline", detail);
    },
  );
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  switch (m.type) {
    case "start": {
      base = m.base;
      payout = m.payout;
      budget = m.budget;
      identity = {
        address: m.address,
        sign: m.key
          ? async (message) =>
              toBase64(
                new Uint8Array(
                  await crypto.subtle.sign({ name: "Ed25519" }, m.key as CryptoKey, message),
                ),
              )
          : (message) =>
              new Promise((resolve, reject) => {
                const id = nextSignature++;
                pendingSignatures.set(id, (signature) =>
                  signature ? resolve(signature) : reject(new Error("the wallet declined to sign")),
                );
                post({ type: "sign", id, message });
              }),
      };
      try {
        adapter = await navigator.gpu.requestAdapter();
        if (!adapter) throw new Error("no WebGPU adapter");
        post({
          type: "adapter",
          description:
            `${adapter.info.vendor || "unknown vendor"} ${adapter.info.architecture || ""}`.trim(),
          packedDot:
            navigator.gpu.wgslLanguageFeatures?.has("packed_4x8_integer_dot_product") ?? false,
        });
        await gpu();
      } catch (err) {
        setState("error", (err as Error).message);
        return;
      }
      connect();
      return;
    }
    case "signed":
      pendingSignatures.get(m.id)?.(m.signature);
      pendingSignatures.delete(m.id);
      return;
    case "budget":
      budget = Math.min(1, Math.max(0.05, m.value));
      return;
    case "pause":
      await connection?.stop();
      connection = null;
      setState("paused");
      return;
    case "resume":
      if (!connection && identity) connect();
      return;
    case "stop":
      await connection?.stop();
      connection = null;
      self.close();
      return;
  }
};
