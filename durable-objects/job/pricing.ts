import { type Prices, quote as quoteSpec } from "../../client/kernels/index.ts";
import { MAX_OUTPUT_BYTES } from "../../protocol/contributor.ts";
import type { JobSpec, Quote } from "../../protocol/jobs.ts";

/**
 * What a job costs, from the CPU references' work-unit model (docs/kernels.md) and the operator's
 * price list. The quote route and, with the marketplace, the `Job` object at creation both price
 * through here, so a quoted price is the price that is held.
 */
export type { Prices } from "../../client/kernels/index.ts";

export type Priced =
  | { ok: true; quote: Quote }
  | { ok: false; code: "job_too_large" | "price_exceeds_max"; detail: string; quote?: Quote };

export function priceJob(spec: JobSpec, prices: Prices): Priced {
  if (spec.kind === "wgsl") {
    const bytes = spec.outputs.reduce((n, o) => n + o.size, 0);
    if (bytes > MAX_OUTPUT_BYTES)
      return {
        ok: false,
        code: "job_too_large",
        detail: `A task's outputs total ${bytes} bytes; results travel in the contributor's result frame, at most ${MAX_OUTPUT_BYTES} bytes a task.`,
      };
  }
  let quote: Quote;
  try {
    quote = quoteSpec(spec, prices);
  } catch (err) {
    if (err instanceof RangeError) return { ok: false, code: "job_too_large", detail: err.message };
    throw err;
  }
  if (spec.max_price !== undefined && quote.total > spec.max_price) {
    return {
      ok: false,
      code: "price_exceeds_max",
      detail: `The job costs ${quote.total} USDC base units, more than its max_price of ${spec.max_price}.`,
      quote,
    };
  }
  return { ok: true, quote };
}
