import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Three suites, one command (`npm test`):
// - workers: Worker and Durable Object code inside workerd (the Workers vitest plugin);
// - node: code that runs outside Cloudflare (wasm, contracts, client) in Node 24;
// - browser: real Chromium with WebGPU against a `wrangler dev` server started by the suite;
// - settlement: the Worker in workerd with Solana settlement configured, against a LiteSVM
//   cluster behind the JSON-RPC front that `test/settlement/global-setup.ts` starts.
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
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ...inject("settlement"),
                ADMIN_TOKEN: "settlement-test-operator-token",
                PAYOUT_THRESHOLD_MICROS: "1000000",
                DEPOSIT_MIN_MICROS: "1000",
                STAKE_TIER_MICROS: "10000000",
                STAKE_SLASH_BPS: "2500",
                UNSTAKE_COOLDOWN: "2",
                // The tests run the Treasury's alarm themselves (runDurableObjectAlarm).
                SETTLEMENT_POLL_SECONDS: "3600",
              },
            },
          })),
        ],
        test: {
          name: "settlement",
          include: ["test/settlement/**/*.test.ts"],
          globalSetup: ["test/settlement/global-setup.ts"],
          // One cluster and one Treasury for the suite: files take turns, so balances are theirs.
          fileParallelism: false,
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
