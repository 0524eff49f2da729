import { base58btc } from "multiformats/bases/base58";
import {
  authMessage,
  type BatchableFrame,
  type Capabilities,
  type Pool,
  PROTOCOL_VERSION,
  parseServerFrame,
  type ServerFrame,
  type TaskFrame,
} from "../../protocol/contributor.ts";
import { hex } from "../../protocol/digest.ts";
import type { JobSpec } from "../../protocol/jobs.ts";
import { blake3, init as initBlake3 } from "../../wasm/index.ts";

/**
 * The contributor side of the protocol (docs/protocol.md), for Node and browsers: connects,
 * proves its ed25519 key, declares its slots, runs each leased task through `kernel` and
 * submits the output with its digest. The native node runs GPU kernels through it; tests and
 * the dispatch benchmark run the CPU references (and deliberately wrong ones) through it.
 */
export type Kernel = (task: TaskFrame) => Promise<Uint8Array> | Uint8Array;

export interface Identity {
  address: string;
  sign(message: Uint8Array<ArrayBuffer>): Promise<string>;
}

/** A fresh ed25519 key pair, with its Solana address (base58 of the public key). */
export async function newIdentity(): Promise<Identity> {
  const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer);
  return {
    address: base58btc.baseEncode(raw),
    async sign(message) {
      const sig = await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, message);
      return toBase64(new Uint8Array(sig));
    },
  };
}

export interface ContributorOptions {
  /** The Tessera base URL (http or https); the socket goes to `/v1/contribute`. */
  base: string;
  pool?: Pool;
  slots?: number;
  /**
   * Tasks per slot (default 1). Above 1 the server sends tasks (with their acks and verdicts) in
   * `batch` frames, and the answers to one `batch` frame's tasks go back together in one.
   */
  batch?: number;
  identity?: Identity;
  capabilities?: Partial<Capabilities>;
  /** Where earnings are paid, if not to the identity's own address. */
  payout?: string;
  kernel: Kernel;
  /**
   * Every frame the server sends, for logs and tests: a `batch` frame itself, then each frame in
   * it (with `inBatch` true).
   */
  onFrame?: (frame: ServerFrame, inBatch: boolean) => void;
}

export interface ContributorStats {
  tasks: number;
  acked: number;
  accepted: number;
  rejected: number;
  earned: number;
  errors: { code: string; task_id?: string }[];
}

export class ContributorClient {
  readonly stats: ContributorStats = {
    tasks: 0,
    acked: 0,
    accepted: 0,
    rejected: 0,
    earned: 0,
    errors: [],
  };
  identity!: Identity;
  /** Settles when the socket closes, for whatever reason (resolves with the close code). */
  readonly closed: Promise<number>;
  private markClosed!: (code: number) => void;
  private ws: WebSocket | null = null;
  private stopped = false;
  /** Specs of the jobs this connection has been sent, by job id. */
  private readonly jobs = new Map<string, JobSpec>();

  private readonly options: ContributorOptions;

  constructor(options: ContributorOptions) {
    this.options = options;
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
  }

  get address(): string {
    return this.identity.address;
  }

  /** Connects and authenticates; resolves once the server has said `welcome`. */
  async start(): Promise<{ trust: string }> {
    await initBlake3();
    this.identity ??= this.options.identity ?? (await newIdentity());
    const pool = this.options.pool ?? "browser";
    const url = new URL(`/v1/contribute?pool=${pool}`, this.options.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)));
      ws.addEventListener("close", (event) => {
        this.stopped = true;
        this.markClosed(event.code);
        reject(new Error(`closed before welcome (${event.code} ${event.reason})`));
      });
      ws.addEventListener("message", async (event) => {
        const frame = parseServerFrame(String(event.data));
        if (!frame) {
          // Not a frame of docs/protocol.md: noted and ignored.
          this.stats.errors.push({ code: "malformed_frame" });
          return;
        }
        this.options.onFrame?.(frame, false);
        switch (frame.type) {
          case "challenge": {
            const signature = await this.identity.sign(authMessage(frame.nonce, pool));
            this.send({
              type: "auth",
              version: PROTOCOL_VERSION,
              address: this.identity.address,
              signature,
              capabilities: {
                features: [],
                limits: {},
                adapter: "cpu reference",
                ...this.options.capabilities,
              },
              ...(this.options.payout ? { payout: this.options.payout } : {}),
            });
            return;
          }
          case "welcome": {
            const batch = this.options.batch ?? 1;
            this.send({
              type: "ready",
              slots: this.options.slots ?? 1,
              ...(batch > 1 ? { batch } : {}),
            });
            resolve({ trust: frame.trust });
            return;
          }
          case "batch": {
            // The tasks of one batch frame run together and are answered in one batch frame.
            const tasks: TaskFrame[] = [];
            const answers: AnswerFrame[] = [];
            for (const inner of frame.frames) {
              this.options.onFrame?.(inner, true);
              if (inner.type !== "task") {
                this.note(inner);
                continue;
              }
              this.stats.tasks++;
              const job = this.jobs.get(inner.job_id);
              if (job) tasks.push({ ...inner, job });
              else answers.push(noJob(inner));
            }
            if (tasks.length === 0 && answers.length === 0) return;
            this.inFlight += tasks.length;
            try {
              answers.push(...(await Promise.all(tasks.map((t) => this.run(t)))));
            } finally {
              this.inFlight -= tasks.length;
            }
            this.send({ type: "batch", frames: answers });
            return;
          }
          case "task": {
            this.stats.tasks++;
            const job = this.jobs.get(frame.job_id);
            if (!job) {
              this.send(noJob(frame));
              return;
            }
            this.inFlight++;
            try {
              this.send(await this.run({ ...frame, job }));
            } finally {
              this.inFlight--;
            }
            return;
          }
          default:
            this.note(frame);
        }
      });
    });
  }

  /** Bookkeeping for the frames that need no answer. */
  private note(frame: BatchableFrame | Extract<ServerFrame, { type: "welcome" }>): void {
    switch (frame.type) {
      case "job":
        this.jobs.set(frame.job_id, frame.spec);
        // A few recent jobs are plenty: a contributor works one or two at a time.
        if (this.jobs.size > 8) this.jobs.delete(this.jobs.keys().next().value as string);
        return;
      case "ack":
        this.stats.acked++;
        return;
      case "verdict":
        if (frame.status === "accepted") this.stats.accepted++;
        else this.stats.rejected++;
        this.stats.earned += frame.earned;
        return;
      case "error":
        this.stats.errors.push({
          code: frame.code,
          ...(frame.task_id ? { task_id: frame.task_id } : {}),
        });
        return;
    }
  }

  /** Runs one task: its result frame, or a `failed` frame with the kernel's error. */
  private async run(task: TaskFrame): Promise<AnswerFrame> {
    let output: Uint8Array;
    try {
      output = await this.options.kernel(task);
    } catch (err) {
      return {
        type: "failed",
        task_id: task.task_id,
        lease_token: task.lease_token,
        reason: String(err instanceof Error ? err.message : err).slice(0, 500),
      };
    }
    return resultFrame(task, output);
  }

  /** Sends a result frame for `task` (exposed so tests can replay or forge one). */
  submit(task: Pick<TaskFrame, "task_id" | "lease_token">, output: Uint8Array, digest?: string) {
    this.send(resultFrame(task, output, digest));
  }

  send(frame: unknown): void {
    if (!this.stopped && this.ws?.readyState === WebSocket.OPEN)
      this.ws.send(JSON.stringify(frame));
  }

  /** Closes the socket; the server hands this contributor's open leases to others. */
  stop(): void {
    this.stopped = true;
    this.ws?.close(1000, "bye");
  }

  /** Tasks received and not yet answered. */
  get running(): number {
    return this.inFlight;
  }
  private inFlight = 0;
}

type AnswerFrame =
  | { type: "result"; task_id: string; lease_token: string; output: string; digest: string }
  | { type: "failed"; task_id: string; lease_token: string; reason: string };

function resultFrame(
  task: Pick<TaskFrame, "task_id" | "lease_token">,
  output: Uint8Array,
  digest?: string,
): AnswerFrame {
  return {
    type: "result",
    task_id: task.task_id,
    lease_token: task.lease_token,
    output: toBase64(output),
    digest: digest ?? hex(blake3(output)),
  };
}

function noJob(task: { task_id: string; lease_token: string; job_id: string }): AnswerFrame {
  return {
    type: "failed",
    task_id: task.task_id,
    lease_token: task.lease_token,
    reason: `no job frame for ${task.job_id} on this connection`,
  };
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const BACKOFF_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];

/**
 * Keeps a contributor connected: connects with `connect`, and whenever the socket closes
 * (network loss, server restart) connects again after a pause that grows with each failure
 * (0.5 s up to 30 s). `stop()` closes the socket, which hands its open leases back at once.
 */
export function keepConnected(
  connect: () => Promise<ContributorClient>,
  onEvent: (event: "connected" | "disconnected" | "retrying", detail?: string) => void = () => {},
): { stop(): Promise<void>; current(): ContributorClient | null } {
  let stopping = false;
  let current: ContributorClient | null = null;
  const loop = (async () => {
    let attempt = 0;
    while (!stopping) {
      try {
        current = await connect();
        attempt = 0;
        onEvent("connected");
        await current.closed;
        if (stopping) break;
        onEvent("disconnected");
      } catch (err) {
        current = null;
        if (stopping) break;
        attempt++;
        onEvent("retrying", (err as Error).message);
      }
      await new Promise((r) => setTimeout(r, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]));
    }
  })();
  return {
    current: () => current,
    async stop() {
      stopping = true;
      current?.stop();
      await loop;
    },
  };
}
