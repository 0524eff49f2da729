import type { Env as TesseraEnv } from "../../workers/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends TesseraEnv {}
    interface GlobalProps {
      mainModule: typeof import("../../workers/index.ts");
      durableNamespaces:
        | "Account"
        | "BlockRefs"
        | "Contributor"
        | "Dispatcher"
        | "Job"
        | "Pin"
        | "Providers"
        | "Treasury";
    }
  }
}
