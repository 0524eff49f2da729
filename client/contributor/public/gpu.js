// Detects WebGPU and shows the adapter this tab would contribute. The task runner arrives with the
// contributor app; this page already tells a visitor whether their browser can take part.
const status = document.getElementById("gpu-status");

function show(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

async function detect() {
  if (!("gpu" in navigator)) {
    show("unsupported", "This browser has no WebGPU. Try a recent Chrome, Edge or Safari.");
    return;
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    show("unavailable", "WebGPU is present but no GPU adapter is available.");
    return;
  }
  const info = adapter.info ?? {};
  document.getElementById("gpu-vendor").textContent = info.vendor || "unknown";
  document.getElementById("gpu-architecture").textContent = info.architecture || "unknown";
  const mib = Math.floor(adapter.limits.maxBufferSize / (1024 * 1024));
  document.getElementById("gpu-max-buffer").textContent = `${mib} MiB`;
  document.getElementById("gpu-details").hidden = false;
  show("ready", "WebGPU adapter ready.");
}

detect().catch((err) => show("error", `WebGPU check failed: ${err.message}`));
