import { connectWallet, type StandardWallet, tabKey, watchWallets } from "./identity.ts";
import type { FromWorker, State, ToWorker } from "./messages.ts";

/**
 * The contributor page: shows the GPU, the identity, and — once the visitor presses Contribute
 * (or the page was opened with `?autostart=1`) — the live task, tasks done, verified and pending
 * earnings, and a preview of the tiles this tab rendered. All the work happens in `worker.ts`.
 */
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const STATE_TEXT: Record<State, string> = {
  connecting: "Connecting to the network…",
  waiting: "Connected. Waiting for work.",
  running: "Running a task.",
  paused: "Paused. Press Resume to take tasks again.",
  offline: "Connection lost. Reconnecting…",
  error: "Stopped by an error.",
};

let worker: Worker | null = null;
let identity: {
  address: string;
  key: CryptoKey | null;
  sign?: (m: Uint8Array) => Promise<string>;
} | null = null;
let paused = false;
let previewJob = "";

function showGpu(state: string, text: string) {
  const status = $("gpu-status");
  status.dataset.state = state;
  status.textContent = text;
}

function showState(state: State | "idle", detail?: string) {
  const el = $("state");
  el.dataset.state = state;
  el.textContent =
    state === "idle" ? "Not contributing." : `${STATE_TEXT[state]}${detail ? ` (${detail})` : ""}`;
}

async function detect(): Promise<boolean> {
  if (!("gpu" in navigator)) {
    showGpu("unsupported", "This browser has no WebGPU. Try a recent Chrome, Edge or Safari.");
    return false;
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    showGpu("unavailable", "WebGPU is present but no GPU adapter is available.");
    return false;
  }
  $("gpu-vendor").textContent = adapter.info.vendor || "unknown";
  $("gpu-architecture").textContent = adapter.info.architecture || "unknown";
  $("gpu-max-buffer").textContent = `${Math.floor(adapter.limits.maxBufferSize / 1024 ** 2)} MiB`;
  $("gpu-details").hidden = false;
  showGpu("ready", "WebGPU adapter ready.");
  return true;
}

function budget(): number {
  return Number($<HTMLInputElement>("budget").value) / 100;
}

function usdc(micros: number): string {
  return `${(micros / 1e6).toFixed(6)} USDC`;
}

function onWorker(m: FromWorker) {
  switch (m.type) {
    case "state":
      showState(m.state, m.detail);
      return;
    case "adapter":
      return;
    case "task":
      $("task").textContent =
        m.phase === "start"
          ? `Running ${m.kind} task ${m.task_id}…`
          : m.phase === "done"
            ? `Finished ${m.kind} task ${m.task_id} in ${Math.round(m.ms ?? 0)} ms.`
            : `Task ${m.task_id} failed; it goes back to the network.`;
      return;
    case "totals":
      $("tasks-done").textContent = String(m.accepted + m.rejected + m.pending);
      $("earned-verified").textContent = usdc(m.verified);
      $("earned-pending").textContent = `${m.pending} result${m.pending === 1 ? "" : "s"}`;
      $("rejected").textContent = String(m.rejected);
      return;
    case "tile":
      drawTile(m);
      return;
    case "sign":
      identity?.sign?.(m.message).then(
        (signature) => post({ type: "signed", id: m.id, signature }),
        () => post({ type: "signed", id: m.id, signature: null }),
      );
      return;
  }
}

function drawTile(m: Extract<FromWorker, { type: "tile" }>) {
  const canvas = $<HTMLCanvasElement>("preview");
  if (previewJob !== m.job_id) {
    previewJob = m.job_id;
    canvas.width = m.width;
    canvas.height = m.height;
  }
  $("preview-figure").hidden = false;
  const context = canvas.getContext("2d");
  context?.putImageData(new ImageData(new Uint8ClampedArray(m.rgba), m.w, m.h), m.x, m.y);
}

function post(m: ToWorker) {
  worker?.postMessage(m);
}

function start() {
  if (worker || !identity) return;
  worker = new Worker("/build/worker.js", { type: "module" });
  worker.onmessage = (e: MessageEvent<FromWorker>) => onWorker(e.data);
  worker.onerror = (e) => showState("error", e.message);
  const payoutInput = $<HTMLInputElement>("payout");
  const payout =
    identity.key && payoutInput.value && payoutInput.checkValidity() ? payoutInput.value : null;
  if (payout) localStorage.setItem("tessera-payout", payout);
  payoutInput.disabled = true;
  post({
    type: "start",
    base: location.origin,
    key: identity.key,
    address: identity.address,
    payout,
    budget: budget(),
  });
  $<HTMLButtonElement>("contribute").hidden = true;
  $("pause").hidden = false;
  showState("connecting");
}

function showWallets(wallets: StandardWallet[]) {
  const box = $("wallets");
  box.replaceChildren(
    ...wallets.map((w) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `Use ${w.name}`;
      b.disabled = worker !== null;
      b.onclick = async () => {
        try {
          const wallet = await connectWallet(w);
          identity = { address: wallet.address, key: null, sign: wallet.sign };
          $("address").textContent = wallet.address;
          $("identity-kind").textContent = `(${wallet.name})`;
          // A wallet is paid itself.
          $("payout-label").hidden = true;
        } catch (err) {
          $("identity-kind").textContent = `(${w.name} did not connect: ${(err as Error).message})`;
        }
      };
      return b;
    }),
  );
}

async function main() {
  $<HTMLInputElement>("budget").oninput = () => {
    $("budget-value").textContent = `${Math.round(budget() * 100)}%`;
    post({ type: "budget", value: budget() });
  };
  $("pause").onclick = () => {
    paused = !paused;
    post({ type: paused ? "pause" : "resume" });
    $("pause").textContent = paused ? "Resume" : "Pause";
  };
  $("contribute").onclick = start;
  addEventListener("pagehide", () => post({ type: "stop" }));
  watchWallets(showWallets);
  $<HTMLInputElement>("payout").value = localStorage.getItem("tessera-payout") ?? "";

  if (!(await detect())) return;
  const key = await tabKey();
  identity ??= { address: key.address, key: key.key };
  $("address").textContent = identity.address;
  if (!$("identity-kind").textContent) $("identity-kind").textContent = "(this browser's key)";
  $<HTMLButtonElement>("contribute").disabled = false;
  if (new URLSearchParams(location.search).get("autostart") === "1") start();
}

main().catch((err: Error) => showGpu("error", `WebGPU check failed: ${err.message}`));
