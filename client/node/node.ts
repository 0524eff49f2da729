import type { Pool, ServerFrame, TaskFrame } from "../../protocol/contributor.ts";
import { createGpuRunner, type GpuRunner } from "../kernels/gpu/index.ts";
import { ContributorClient, type Identity, keepConnected } from "./contributor-client.ts";
import { nodeGpu } from "./gpu.ts";

/**
 * `tessera node`: a contributor that runs the WGSL kernels through Dawn. Joins the `native` pool,
 * prints one line per task and the totals, reconnects with backoff when the network drops,
 * recreates the device when it is lost, and on stop (Ctrl-C) closes its socket, which hands its
 * open leases back to the network at once.
 */
export interface NodeOptions {
  base: string;
  pool?: Pool;
  slots?: number;
  identity?: Identity;
  log?: (line: string) => void;
}

export interface RunningNode {
  address: string;
  totals(): { tasks: number; accepted: number; rejected: number; earned: number; failed: number };
  stop(): Promise<void>;
}

export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { adapter, wgslFeatures } = await nodeGpu();
  let runner: GpuRunner | null = null;
  let device: GPUDevice | null = null;
  const fetchBlob = async (cid: string) => {
    const res = await fetch(new URL(`/ipfs/${cid}`, options.base));
    if (!res.ok) throw new Error(`gateway answered ${res.status} for ${cid}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const gpu = async (): Promise<GpuRunner> => {
    if (runner) return runner;
    const d = await adapter.requestDevice();
    device = d;
    d.lost.then((info) => {
      if (info.reason === "destroyed") return;
      log(`device lost (${info.message}); a new one will be made for the next task`);
      if (device === d) {
        device = null;
        runner = null;
      }
    });
    runner = await createGpuRunner({ device: d, wgslFeatures, fetchBlob });
    return runner;
  };
  const totals = { tasks: 0, accepted: 0, rejected: 0, earned: 0, failed: 0 };
  const started = new Map<string, number>();

  const kernel = async (task: TaskFrame) => {
    started.set(task.task_id, performance.now());
    try {
      return await (await gpu())(task);
    } catch (err) {
      totals.failed++;
      log(`task ${task.task_id} ${task.job.kind} failed: ${(err as Error).message}`);
      throw err;
    }
  };
  const onFrame = (frame: ServerFrame) => {
    if (frame.type === "task") totals.tasks++;
    if (frame.type === "ack") {
      const t0 = started.get(frame.task_id);
      const ms = t0 === undefined ? "?" : (performance.now() - t0).toFixed(0);
      log(`task ${frame.task_id} done in ${ms} ms, waiting for verification`);
    }
    if (frame.type === "verdict") {
      started.delete(frame.task_id);
      if (frame.status === "accepted") totals.accepted++;
      else totals.rejected++;
      totals.earned += frame.earned;
      log(
        `task ${frame.task_id} ${frame.status}${frame.reason ? ` (${frame.reason})` : ""}, ` +
          `earned ${frame.earned} — totals: ${totals.accepted} accepted, ${totals.rejected} rejected, ${totals.earned} USDC base units`,
      );
    }
    if (frame.type === "error") log(`server: ${frame.code}: ${frame.message}`);
  };

  let identity = options.identity;
  let announced: (address: string) => void = () => {};
  const address = new Promise<string>((resolve) => {
    announced = resolve;
  });
  const connect = async () => {
    const c = new ContributorClient({
      base: options.base,
      pool: options.pool ?? "native",
      slots: options.slots ?? 1,
      kernel,
      onFrame,
      capabilities: {
        features: [...adapter.features],
        limits: {
          maxBufferSize: adapter.limits.maxBufferSize,
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxComputeWorkgroupsPerDimension: adapter.limits.maxComputeWorkgroupsPerDimension,
          maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
        },
        adapter: `${adapter.info.vendor} ${adapter.info.architecture} (Dawn)`.slice(0, 200),
      },
      ...(identity ? { identity } : {}),
    });
    const { trust } = await c.start();
    identity = c.identity;
    announced(c.address);
    log(
      `connected to ${options.base} as ${c.address} (${trust}), pool ${options.pool ?? "native"}`,
    );
    return c;
  };
  const connection = keepConnected(connect, (event, detail) => {
    if (event === "disconnected") log("disconnected; reconnecting");
    if (event === "retrying") log(`cannot connect (${detail}); retrying`);
  });

  return {
    address: await address,
    totals: () => ({ ...totals }),
    async stop() {
      await connection.stop();
      (device as GPUDevice | null)?.destroy();
      log(
        `stopped; open leases handed back. ${totals.tasks} tasks, ${totals.accepted} accepted, ${totals.rejected} rejected, earned ${totals.earned} USDC base units`,
      );
    },
  };
}
