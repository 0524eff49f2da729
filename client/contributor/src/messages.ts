/**
 * Messages between the contributor page (main thread) and its web worker, which holds the GPU
 * device, the kernels and the WebSocket so the page stays responsive.
 */
export type ToWorker =
  | {
      type: "start";
      base: string;
      /** The tab's own key (non-extractable), or `null` when a wallet signs through the page. */
      key: CryptoKey | null;
      address: string;
      /** Where earnings are paid, when not to `address`. */
      payout: string | null;
      budget: number;
    }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "budget"; value: number }
  | { type: "signed"; id: number; signature: string | null }
  | { type: "stop" };

export type State = "connecting" | "waiting" | "running" | "paused" | "offline" | "error";

export type FromWorker =
  | { type: "state"; state: State; detail?: string }
  | { type: "adapter"; description: string; packedDot: boolean }
  | { type: "task"; task_id: string; kind: string; phase: "start" | "done" | "failed"; ms?: number }
  | {
      type: "totals";
      tasks: number;
      accepted: number;
      rejected: number;
      /** USDC base units confirmed by verification. */
      verified: number;
      /** Results waiting for their replicas. */
      pending: number;
    }
  | {
      type: "tile";
      job_id: string;
      width: number;
      height: number;
      x: number;
      y: number;
      w: number;
      h: number;
      rgba: Uint8Array;
    }
  /** A wallet identity: the page signs the handshake message. */
  | { type: "sign"; id: number; message: Uint8Array };
