// Starts the local network (scripts/start.ts → wrangler dev) on a free port with throwaway state,
// for benchmarks that measure Tessera over real HTTP.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

export async function startServer(vars: Record<string, string> = {}) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  const args = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child = spawn("node", ["scripts/start.ts", ...args], {
    env: { ...process.env, PORT: String(port), TESSERA_STATE_DIR: state },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  child.stdout?.on("data", (d) => {
    log += d;
  });
  child.stderr?.on("data", (d) => {
    log += d;
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${log}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${log}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    base,
    stop() {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
      rmSync(state, { recursive: true, force: true });
    },
  };
}

export async function signup(base: string): Promise<string> {
  const res = await fetch(`${base}/v1/accounts`, { method: "POST" });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { api_key: string }).api_key;
}
