// The Worker's bindings come from test/workers/env.d.ts; the settlement suite adds its fixture's.
declare global {
  namespace Cloudflare {
    interface Env {
      /** The control server of `global-setup.ts` (wallets, cluster, faults). */
      TEST_CHAIN_URL: string;
      TEST_TREASURY: string;
      TEST_TREASURY_FLOAT: string;
    }
  }
}

export {};
