import { createApp } from "./app.ts";
import type { Env } from "./env.ts";

export { Account } from "../durable-objects/account/account.ts";
export { BlockRefs } from "../durable-objects/block-refs/block-refs.ts";
export { Contributor } from "../durable-objects/contributor/contributor.ts";
export { Dispatcher } from "../durable-objects/dispatcher/dispatcher.ts";
export { Job } from "../durable-objects/job/job.ts";
export { Pin } from "../durable-objects/pin/pin.ts";
export { Providers } from "../durable-objects/providers/providers.ts";
export { Treasury } from "../durable-objects/treasury/treasury.ts";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
