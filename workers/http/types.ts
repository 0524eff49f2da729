import type { Account, Principal } from "../../durable-objects/account/account.ts";
import type { Env } from "../env.ts";

/** The Hono environment every route module shares. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Set by `authenticate` on every `/v1` route but signup. */
    principal: Principal;
    account: DurableObjectStub<Account>;
  };
}
