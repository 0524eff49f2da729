import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Three suites, one command (`npm test`):
// - workers: Worker and Durable Object code inside workerd (the Workers vitest plugin);
// - node: code that runs outside Cloudflare (wasm, contracts, client) in Node 24;
// - browser: real Chromium with WebGPU against a `wrangler dev` server started by the suite.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // Small limits so tests can reach them; production values live in wrangler.toml.
              bindings: {
                RATE_LIMIT_PER_MINUTE: "20",
                MAX_JSON_BODY_BYTES: "65536",
                STORAGE_QUOTA_BYTES: String(24 * 1024 * 1024),
                MAX_UPLOAD_REQUEST_BYTES: String(12 * 1024 * 1024),
              },
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts", "wasm/**/*.workerd.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: [
            "test/node/**/*.test.ts",
            "wasm/**/*.test.ts",
            "contracts/**/*.test.ts",
            "client/**/*.test.ts",
          ],
          exclude: ["**/*.workerd.test.ts", "**/node_modules/**"],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          globalSetup: ["test/browser/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
