// `npm run bench -- dispatch`: the marketplace's dispatch path under load, through `wrangler dev`
// (the real Worker, Dispatcher, Job, Account and Contributor objects in workerd) and N simulated
// contributors in this process speaking the real protocol (client/node/contributor-client.ts).
//
// Workload: `wgsl` jobs of 1024 dispatches (one task per dispatch, the most a job may have) whose
// shader writes one u32 zero, so a task's output is 4 zero bytes. The contributors' kernel returns
// those bytes without running anything: an instant kernel, so what is measured is the network's
// own cost per task. wgsl rather than small inference jobs because it needs no uploaded model and
// the right output is known without computing it; all replicas agree, so each task is accepted on
// its first `replication` (2) results. The bench's contributors are new, so the Job also mixes in
// canaries (re-runs of accepted tasks): those are results, not verified tasks.
//
// Measured against one local network, in one run:
// 1. Full load: jobs are submitted (four kept open ahead of the contributors) and run through
//    their whole lifecycle: create (escrow hold), lease, result, verification, result assembly and
//    storage, settlement. tasks/s = tasks accepted / (last job completed − first job submitted);
//    results/s = result frames the contributors sent in that window.
// 2. Assignment latency, for every task a contributor receives: the time since one of its task
//    places became free, i.e. since it sent `ready` or the `result` of a previous task (with
//    several places, frees and arrivals are paired first in, first out). Slots freed before a
//    phase's first job existed are left out: they waited for work, not for the dispatcher. Both
//    ends are stamped in this process, so the loopback sockets, wrangler's proxy and this
//    process's event loop are inside the figure along with the Dispatcher and Job objects.
// 3. Half load: the same latency with the contributors' results paced (each waits its turn in a
//    queue that lets them go evenly spaced) at half the full-load results/s.
// Also: CPU of each process (from /proc): the workerd that runs the Worker and all its Durable
// Objects on one thread, how long that thread waited for a core (other processes on the
// machine), and its CPU time per verified task, which bounds the rate one core can sustain.
//
// Contributors take tasks in batches (`ready`'s `batch`, docs/protocol.md): a slot is sent up to
// BENCH_DISPATCH_BATCH tasks in one frame and answers them in one frame. Every task in a batch is
// still its own lease, result, verification and payment, and its own latency sample (2.): a
// contributor has SLOTS × BATCH task places, each freed by the answer to its task (sent with the
// others of its frame) and filled by the next task that arrives (with the others of its frame).
//
// Knobs: BENCH_DISPATCH_CONTRIBUTORS (256), BENCH_DISPATCH_SLOTS (per contributor, 1),
// BENCH_DISPATCH_BATCH (tasks per slot, 16; 1 for one task per frame), BENCH_DISPATCH_AHEAD (jobs
// kept open, 4),
// BENCH_DISPATCH_TASKS (per job, 1024), BENCH_DISPATCH_JOBS (most full-load jobs, 12),
// BENCH_DISPATCH_SECONDS (no new full-load job after this, 30), BENCH_DISPATCH_HALF_SECONDS (20),
// BENCH_DISPATCH_BASE (use a network already running with BENCH_VARS, e.g. under a profiler).
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { ContributorClient } from "../client/node/contributor-client.ts";
import type { TaskFrame } from "../protocol/contributor.ts";
import { startLocalNetwork } from "../scripts/local-network.ts";

const CONTRIBUTORS = Number(process.env.BENCH_DISPATCH_CONTRIBUTORS ?? 256);
const SLOTS = Number(process.env.BENCH_DISPATCH_SLOTS ?? 1);
const BATCH = Number(process.env.BENCH_DISPATCH_BATCH ?? 16);
const TASKS_PER_JOB = Number(process.env.BENCH_DISPATCH_TASKS ?? 1024);
const MAX_JOBS = Number(process.env.BENCH_DISPATCH_JOBS ?? 12);
const FULL_BUDGET_MS = Number(process.env.BENCH_DISPATCH_SECONDS ?? 30) * 1000;
const HALF_BUDGET_MS = Number(process.env.BENCH_DISPATCH_HALF_SECONDS ?? 20) * 1000;
/**
 * Jobs kept submitted and unfinished, so contributors never wait for a job to exist: with batches
 * the contributors hold up to CONTRIBUTORS × SLOTS × BATCH leases at once (4,096 by default, two
 * whole jobs' worth), so more than two jobs must be open for there to be tasks when a slot frees.
 */
const AHEAD = Number(process.env.BENCH_DISPATCH_AHEAD ?? 4);
const OUTPUT_BYTES = 4;
/** A run in which no result is sent for this long has lost its network. */
const STALL_MS = 60_000;

const TARGET_TASKS_PER_SECOND = 1000;
const TARGET_P99_MS = 50;

export const BENCH_VARS = {
  TRIAL_CREDIT_MICROS: String(1_000_000_000_000),
  RATE_LIMIT_PER_MINUTE: "1000000",
};

const WGSL_JOB = {
  kind: "wgsl",
  source: [
    "@group(0) @binding(0) var<storage, read_write> out: array<u32>;",
    "@compute @workgroup_size(1)",
    "fn main(@builtin(global_invocation_id) id: vec3u) { out[0] = 0u; }",
  ].join("\n"),
  entry_point: "main",
  outputs: [{ binding: 0, size: OUTPUT_BYTES }],
  dispatches: Array.from({ length: TASKS_PER_JOB }, () => ({ workgroups: [1] })),
};

// --- contributors, stamped ---------------------------------------------------------------------

interface Sample {
  /** When a task place became free and when the next task arrived (ms, this process's clock). */
  freed: number;
  arrived: number;
}
const samples: Sample[] = [];
const resultTimes: number[] = [];
/**
 * Half load: kernels put their outputs in this queue, which lets them go `perSecond`, evenly spaced
 * (null: instant kernels). It paces results/s exactly, whatever the assignment latency is.
 */
let pace: { waiting: (() => void)[]; timer: ReturnType<typeof setInterval> } | null = null;
const held = { ms: 0, n: 0 };

function startPacing(perSecond: number): void {
  const waiting: (() => void)[] = [];
  let credit = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    credit = Math.min(Math.max(1, perSecond / 100), credit + ((now - last) / 1000) * perSecond);
    last = now;
    for (; credit >= 1 && waiting.length > 0; credit--) waiting.shift()?.();
  }, 2);
  pace = { waiting, timer };
}

function stopPacing(): void {
  if (!pace) return;
  clearInterval(pace.timer);
  for (const release of pace.waiting) release();
  pace = null;
}

let taskFrameBytes = 0;
let stopping = false;
let socketsLost = 0;

class TimedContributor extends ContributorClient {
  private readonly free: number[] = [];

  constructor(base: string) {
    super({
      base,
      slots: SLOTS,
      batch: BATCH,
      kernel: (task: TaskFrame) => {
        if (task.job.kind !== "wgsl") throw new Error(`unexpected ${task.job.kind} task`);
        const out = new Uint8Array(OUTPUT_BYTES);
        const queue = pace?.waiting;
        if (!queue) return out;
        const t0 = performance.now();
        return new Promise<Uint8Array>((resolve) =>
          queue.push(() => {
            held.ms += performance.now() - t0;
            held.n++;
            resolve(out);
          }),
        );
      },
      onFrame: (frame) => {
        // One sample per task, alone or in a batch frame (whose frames come here one by one).
        if (frame.type !== "task") return;
        const now = performance.now();
        const freed = this.free.shift();
        if (freed !== undefined) samples.push({ freed, arrived: now });
        if (taskFrameBytes === 0) taskFrameBytes = JSON.stringify(frame).length;
      },
    });
    void this.closed.then(() => {
      if (!stopping) socketsLost++;
    });
  }

  override send(frame: unknown): void {
    const type = (frame as { type?: string }).type;
    const now = performance.now();
    if (type === "ready") for (let i = 0; i < SLOTS * BATCH; i++) this.free.push(now);
    else if (type === "result" || type === "failed") {
      this.free.push(now);
      resultTimes.push(now);
    } else if (type === "batch") {
      for (const f of (frame as { frames: { type: string }[] }).frames)
        if (f.type === "result" || f.type === "failed") {
          this.free.push(now);
          resultTimes.push(now);
        }
    }
    super.send(frame);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function latencies(from: number, to: number) {
  const ms = samples
    .filter((s) => s.freed >= from && s.arrived <= to)
    .map((s) => s.arrived - s.freed)
    .sort((a, b) => a - b);
  return { n: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? NaN };
}

const resultsBetween = (from: number, to: number) =>
  resultTimes.filter((t) => t >= from && t <= to).length;

/** Results/s between a phase's first and last task frame: the rate while work was handed out. */
function steadyRate(from: number, to: number): number {
  const arrivals = samples.filter((s) => s.freed >= from && s.arrived <= to).map((s) => s.arrived);
  if (arrivals.length < 2) return Number.NaN;
  const a = arrivals.reduce((x, y) => Math.min(x, y));
  const b = arrivals.reduce((x, y) => Math.max(x, y));
  return (resultsBetween(a, b) / (b - a)) * 1000;
}

// --- CPU of the processes involved (Linux /proc) -----------------------------------------------

const TICKS_PER_SECOND = 100;

interface Cpu {
  at: number;
  /** Seconds on a CPU: this process, the Worker's workerd, wrangler's proxy workerd, the rest. */
  self: number;
  worker: number;
  proxy: number;
  other: number;
  /** The Worker's main thread: seconds on a CPU and seconds runnable but waiting for one. */
  workerThreadRun: number;
  workerThreadWait: number;
  found: boolean;
}

function cpuSnapshot(): Cpu {
  const u = process.cpuUsage();
  const cpu: Cpu = {
    at: performance.now(),
    self: (u.user + u.system) / 1e6,
    worker: 0,
    proxy: 0,
    other: 0,
    workerThreadRun: 0,
    workerThreadWait: 0,
    found: false,
  };
  const parent = new Map<number, number>();
  const ticks = new Map<number, { comm: string; t: number }>();
  try {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const close = stat.lastIndexOf(")");
        const f = stat.slice(close + 2).split(" ");
        parent.set(Number(name), Number(f[1]));
        ticks.set(Number(name), {
          comm: stat.slice(stat.indexOf("(") + 1, close),
          t: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND,
        });
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    return cpu; // no /proc
  }
  for (const [pid, { comm, t }] of ticks) {
    let p = parent.get(pid);
    while (p !== undefined && p > 1 && p !== process.pid) p = parent.get(p);
    if (p !== process.pid) continue;
    if (!comm.startsWith("workerd")) {
      cpu.other += t;
      continue;
    }
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {}
    // wrangler dev runs two: its proxy on the public port, and the Worker on port 0 behind it.
    if (!cmdline.includes("--socket-addr=entry=127.0.0.1:0\0")) {
      cpu.proxy += t;
      continue;
    }
    cpu.worker += t;
    cpu.found = true;
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ");
      cpu.workerThreadRun += Number(run) / 1e9;
      cpu.workerThreadWait += Number(wait) / 1e9;
    } catch {}
  }
  return cpu;
}

// --- jobs --------------------------------------------------------------------------------------

interface JobView {
  id: string;
  status: string;
  tasks: { total: number; done: number };
  failure: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  start: number;
  end: number;
  jobs: number;
  tasks: number;
  results: number;
  cpu: [Cpu, Cpu];
}

/**
 * Submits up to `maxJobs` jobs, AHEAD at a time, none after `budgetMs`, and waits for all of them
 * to complete. Polls the oldest unfinished job only (polling costs the Worker CPU too).
 */
async function runJobs(
  base: string,
  auth: Record<string, string>,
  maxJobs: number,
  budgetMs: number,
): Promise<Phase> {
  const open: string[] = [];
  let submitted = 0;
  let tasks = 0;
  let end = 0;
  const cpu0 = cpuSnapshot();
  const start = performance.now();
  let lastResults = resultTimes.length;
  let lastProgress = start;
  for (;;) {
    while (
      submitted < maxJobs &&
      open.length < AHEAD &&
      (submitted === 0 || performance.now() - start < budgetMs)
    ) {
      const res = await fetch(`${base}/v1/jobs`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(WGSL_JOB),
      });
      const body = (await res.json()) as JobView;
      if (res.status !== 202) throw new Error(`submit: ${res.status} ${JSON.stringify(body)}`);
      open.push(body.id);
      submitted++;
    }
    const id = open[0];
    if (id === undefined) break;
    const view = (await (
      await fetch(`${base}/v1/jobs/${id}`, { headers: auth })
    ).json()) as JobView;
    if (view.status === "completed") {
      end = performance.now();
      tasks += view.tasks.done;
      open.shift();
      continue;
    }
    if (view.status === "failed" || view.status === "cancelled")
      throw new Error(`job ${id} ${view.status}: ${view.failure}`);
    if (socketsLost > 0) throw new Error(`${socketsLost} contributor sockets closed mid-run`);
    const now = performance.now();
    if (resultTimes.length !== lastResults) {
      lastResults = resultTimes.length;
      lastProgress = now;
    } else if (now - lastProgress > STALL_MS) {
      throw new Error(`no result for ${STALL_MS / 1000} s; job ${id} at ${view.tasks.done} tasks`);
    }
    await sleep(100);
  }
  return {
    start,
    end,
    jobs: submitted,
    tasks,
    results: resultsBetween(start, end),
    cpu: [cpu0, cpuSnapshot()],
  };
}

// --- the run -----------------------------------------------------------------------------------

const cores = availableParallelism();
const load = loadavg()[0] ?? 0;
const server = process.env.BENCH_DISPATCH_BASE
  ? { base: process.env.BENCH_DISPATCH_BASE, stop: () => {}, log: () => "" }
  : await startLocalNetwork({ vars: BENCH_VARS });
const contributors: TimedContributor[] = [];
try {
  const signup = await fetch(`${server.base}/v1/accounts`, { method: "POST" });
  if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${await signup.text()}`);
  const key = ((await signup.json()) as { api_key: string }).api_key;
  const auth = { authorization: `Bearer ${key}` };

  const c0 = performance.now();
  for (let i = 0; i < CONTRIBUTORS; i += 32) {
    const batch = Array.from(
      { length: Math.min(32, CONTRIBUTORS - i) },
      () => new TimedContributor(server.base),
    );
    contributors.push(...batch);
    await Promise.all(batch.map((c) => c.start()));
  }
  console.log(
    `${CONTRIBUTORS} contributors × ${SLOTS} slot(s) × ${BATCH} task(s) per frame connected in ${((performance.now() - c0) / 1000).toFixed(1)} s; ${cores} cores, load average ${load.toFixed(2)} at start`,
  );
  await sleep(500);

  // 1. Full load: instant kernels.
  const full = await runJobs(server.base, auth, MAX_JOBS, FULL_BUDGET_MS);
  const fullSeconds = (full.end - full.start) / 1000;
  const fullRate = full.tasks / fullSeconds;

  // 2. Half load: results paced at half the full-load results/s (measured while tasks were being
  // handed out). As many jobs as fill HALF_BUDGET_MS at that rate, at least one: when the last
  // job runs out of tasks to lease no task frames follow, so its tail adds no latency samples.
  const halfJobs = Math.max(
    1,
    Math.min(MAX_JOBS, Math.floor(((HALF_BUDGET_MS / 1000) * (fullRate / 2)) / TASKS_PER_JOB)),
  );
  const fullSteady = steadyRate(full.start, full.end);
  startPacing(fullSteady / 2);
  await sleep(500);
  const half = await runJobs(server.base, auth, halfJobs, Number.POSITIVE_INFINITY);
  const halfSeconds = (half.end - half.start) / 1000;
  stopPacing();

  const fullLat = latencies(full.start, full.end);
  const halfLat = latencies(half.start, half.end);
  const errors = new Map<string, number>();
  for (const c of contributors)
    for (const e of c.stats.errors) errors.set(e.code, (errors.get(e.code) ?? 0) + 1);

  const n = (x: number, w: number, d = 0) => x.toFixed(d).padStart(w);
  console.log(
    `wgsl jobs of ${TASKS_PER_JOB} tasks, replication 2; one task frame is ${taskFrameBytes} bytes of JSON`,
  );
  console.log(
    "\nphase       jobs  tasks  seconds  tasks/s  results/s  assignments  p50 ms  p99 ms  max ms",
  );
  for (const [name, p, lat, secs] of [
    ["full load", full, fullLat, fullSeconds],
    ["half load", half, halfLat, halfSeconds],
  ] as const) {
    console.log(
      `${name}  ${n(p.jobs, 5)}${n(p.tasks, 7)}${n(secs, 9, 1)}${n(p.tasks / secs, 9)}${n(p.results / secs, 11)}${n(lat.n, 13)}${n(lat.p50, 8)}${n(lat.p99, 8)}${n(lat.max, 8)}`,
    );
  }
  console.log(
    `\ntasks/s: tasks accepted (2 agreeing results each) ÷ time from the first job submitted to the last one completed (result stored, settled). results/s counts canaries too.`,
  );
  console.log(
    "p50/p99: time from a contributor freeing a task place (sending `ready` or a task's answer, alone or in a batch) to the next task arriving for it, stamped in this process.",
  );
  console.log(
    `half load: results paced to ${(fullSteady / 2).toFixed(0)}/s, half of the ${fullSteady.toFixed(0)}/s measured at full load while tasks were being handed out (a task waited ${(held.ms / Math.max(1, held.n)).toFixed(0)} ms on average for its turn); measured the same way: ${steadyRate(half.start, half.end).toFixed(0)}/s.`,
  );

  console.log("\nCPU, share of one core over each phase:");
  for (const [name, p] of [
    ["full load", full],
    ["half load", half],
  ] as const) {
    const [a, b] = p.cpu;
    const wall = (b.at - a.at) / 1000;
    const pct = (x: number) => `${((x / wall) * 100).toFixed(0)}%`;
    if (!b.found) {
      console.log(`  ${name}: bench process ${pct(b.self - a.self)} (no local workerd to measure)`);
      continue;
    }
    const perTask = ((b.workerThreadRun - a.workerThreadRun) / p.tasks) * 1000;
    console.log(
      `  ${name}: Worker workerd ${pct(b.worker - a.worker)} (its JS thread ran ${pct(b.workerThreadRun - a.workerThreadRun)} of the time and waited for a core ${pct(b.workerThreadWait - a.workerThreadWait)}), wrangler's proxy workerd ${pct(b.proxy - a.proxy)}, wrangler/esbuild ${pct(b.other - a.other)}, bench process ${pct(b.self - a.self)}`,
    );
    console.log(
      `    Worker thread CPU per verified task: ${perTask.toFixed(2)} ms (one core at 100% would sustain about ${(1000 / perTask).toFixed(0)} tasks/s)`,
    );
  }
  if (errors.size > 0)
    console.log(
      `protocol errors sent to contributors: ${JSON.stringify(Object.fromEntries(errors))}`,
    );

  console.log(
    `\ntarget ≥ ${TARGET_TASKS_PER_SECOND} verified tasks/s (${cores} cores): ${fullRate >= TARGET_TASKS_PER_SECOND ? "met" : "missed"} (${fullRate.toFixed(0)})`,
  );
  console.log(
    `target p99 assignment < ${TARGET_P99_MS} ms at half load: ${halfLat.p99 < TARGET_P99_MS ? "met" : "missed"} (${halfLat.p99.toFixed(1)} ms)`,
  );
} catch (err) {
  // `wrangler dev` rebuilds and restarts the Worker when a source file changes, which drops every
  // socket and request in flight: say so rather than leave a bare "terminated".
  if (server.log().includes("Reloading local server"))
    console.error("wrangler dev reloaded the Worker during the run (a source file changed)");
  throw err;
} finally {
  stopping = true;
  try {
    stopPacing();
    for (const c of contributors) c.stop();
  } finally {
    server.stop();
  }
}
