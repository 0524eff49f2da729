// Starts the local network exactly as `npm start` does (scripts/start.ts → wrangler dev) on a free
// port, for the suites and benchmarks that talk to Tessera over real HTTP. The caller owns the
// state directory (`stateDir`, default a fresh temporary one) and must call `stop()`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalNetwork {
  base: string;
  stateDir: string;
  /** What wrangler printed so far (request lines, `console.*` of the Worker and its objects). */
  log(): string;
  stop(): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

export async function startLocalNetwork(
  options: { vars?: Record<string, string>; stateDir?: string } = {},
): Promise<LocalNetwork> {
  const port = await freePort();
  const ownState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "tessera-local-"));
  // Vars go through an env file: `--var KEY:VALUE` cannot carry values that contain colons (URLs).
  const envFile = join(stateDir, "vars.env");
  writeFileSync(
    envFile,
    Object.entries(options.vars ?? {})
      .map(([k, v]) => `${k}=${JSON.stringify(v)}\n`)
      .join(""),
  );
  const args = ["--env-file", envFile];
  const child = spawn(process.execPath, ["scripts/start.ts", ...args], {
    env: { ...process.env, PORT: String(port), TESSERA_STATE_DIR: stateDir },
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
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    if (ownState) rmSync(stateDir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${log}`);
    if (Date.now() > deadline) {
      stop();
      throw new Error(`npm start did not serve /healthz within 90 s:\n${log}`);
    }
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, stateDir, stop, log: () => log };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
