import { compareOutputs } from "../../client/kernels/index.ts";
import type { JobSpec, TaskSpec } from "../../protocol/jobs.ts";

/**
 * The verification rules of a task, as pure functions the `Job` object applies:
 *
 * - A result must have the task's output size and the digest it claims (checked on arrival).
 * - Results are grouped by agreement under the kind's comparator, in arrival order: a result
 *   joins the first group whose first member it agrees with.
 * - The task is accepted when one group reaches `required` members (the job's `replication`,
 *   or 1 for a task sampled out of replication). Until then each missing agreeing result is one
 *   more replica to lease: two that disagree add a third, and the majority decides.
 * - Once accepted, the first `required` members are paid; results outside the group are wrong
 *   and earn nothing.
 */
export interface Submitted {
  token: string;
  output: Uint8Array;
  digest: string;
}

/** Bytes a task's output must have (layouts in docs/kernels.md). */
export function outputBytes(spec: JobSpec, task: TaskSpec): number {
  if (spec.kind === "render" && task.kind === "render")
    return task.tile.width * task.tile.height * 3 * 4;
  if (spec.kind === "inference" && task.kind === "inference")
    return task.rows.count * (spec.layers.at(-1)?.outputs ?? 0);
  if (spec.kind === "wgsl") return spec.outputs.reduce((n, o) => n + o.size, 0);
  throw new Error(`task kind ${task.kind} does not match job kind ${spec.kind}`);
}

/** Whether two outputs of the same task agree: digests for exact kinds, else the comparator. */
export function agree(spec: JobSpec, a: Submitted, b: Submitted): boolean {
  if (a.digest === b.digest) return true;
  if (spec.kind === "inference" || (spec.kind === "wgsl" && spec.comparator.type === "exact"))
    return false;
  return compareOutputs(spec, a.output, b.output).ok;
}

/** Results grouped by agreement, in arrival order; the largest group first. */
export function groups(spec: JobSpec, results: readonly Submitted[]): Submitted[][] {
  const out: Submitted[][] = [];
  for (const r of results) {
    const home = out.find((g) => g[0] !== undefined && agree(spec, g[0], r));
    if (home) home.push(r);
    else out.push([r]);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * What the replica in `slot` (task index × replication + rank) earns: the job's compute cost cut
 * into `tasks × replication` shares that differ by at most one base unit and add up exactly.
 */
export function share(computeCost: number, shares: number, slot: number): number {
  const at = (i: number) => Number((BigInt(computeCost) * BigInt(i)) / BigInt(shares));
  return at(slot + 1) - at(slot);
}

/** The platform fee on `compute` paid: the quote's rule, rounded up. */
export function feeOn(compute: number, bps: number): number {
  return Number((BigInt(compute) * BigInt(bps) + 9_999n) / 10_000n);
}
