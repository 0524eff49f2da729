import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("wrangler.toml", () => {
  it("bundles for `wrangler deploy` with every binding the Worker needs", async () => {
    const outdir = mkdtempSync(join(tmpdir(), "tessera-deploy-"));
    const { stdout } = await run("wrangler", ["deploy", "--dry-run", "--outdir", outdir], {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    expect(stdout).toMatch(/env\.ACCOUNT \(Account\)\s+Durable Object/);
    expect(stdout).toMatch(/env\.ASSETS\s+Assets/);
    expect(stdout).toContain("--dry-run: exiting now.");
  });
});
