import type { Address, Base64EncodedWireTransaction, Commitment, Signature } from "@solana/kit";
import type { TreasuryRpc } from "./rpc.ts";

/**
 * What the chain says about a payout batch's attempts: the read side of `payBatch`, kept apart so
 * the rule that stops a double payment can be read in one place.
 */

export type PayoutErrorCode = "invalid_batch" | "too_large" | "rejected" | "failed" | "unconfirmed";

/**
 * Why a batch was not paid. `rejected`: the RPC refused it in preflight (nothing landed);
 * `failed`: it landed and failed, moving no tokens; `unconfirmed`: no answer in time, which is
 * safe to retry with the recorded attempts.
 */
export class PayoutError extends Error {
  override name = "PayoutError";
  constructor(
    readonly code: PayoutErrorCode,
    message: string,
    readonly signature?: Signature,
  ) {
    super(message);
  }
}

/** One signed attempt at a batch: what `payBatch`'s `sent` must store before it is sent. */
export interface PayoutAttempt {
  signature: Signature;
  /** The signed transaction, so a retry re-sends these exact bytes rather than signing anew. */
  transaction: Base64EncodedWireTransaction;
  /** After this block height is finalized, the attempt can never land. */
  lastValidBlockHeight: bigint;
}

/** A transaction known by signature; `lastValidBlockHeight` when we know how long it can land. */
interface AttemptRef {
  signature: Signature;
  lastValidBlockHeight?: bigint;
}

/** How many of the treasury's recent transactions the memo scan reads. */
const MEMO_SCAN_LIMIT = 1000;

/**
 * Whether the batch is already paid: first by the recorded attempts' signatures (with history,
 * so old ones are found too), then by the batch memo among the treasury key's recent
 * transactions, which catches an attempt whose record was lost. Also returns the recorded
 * attempts that landed and failed: they can never run again, so they are not worth re-sending.
 */
export async function findLandedAttempt(
  rpc: TreasuryRpc,
  attempts: readonly PayoutAttempt[],
  treasury: Address,
  memo: string,
): Promise<{ paid?: AttemptRef; failed: Set<Signature> }> {
  const failed = new Set<Signature>();
  if (attempts.length > 0) {
    const { value } = await rpc
      .getSignatureStatuses(
        attempts.map((a) => a.signature),
        { searchTransactionHistory: true },
      )
      .send();
    for (const [i, status] of value.entries()) {
      const attempt = attempts[i];
      if (!status || !attempt) continue;
      if (status.err === null) return { paid: attempt, failed };
      failed.add(attempt.signature);
    }
  }
  // The treasury key signs every payout, and few other transactions name it, so its history
  // is the short list to search.
  const recent = await rpc
    .getSignaturesForAddress(treasury, { commitment: "confirmed", limit: MEMO_SCAN_LIMIT })
    .send();
  const match = recent.find((s) => s.err === null && rpcMemos(s.memo).includes(memo));
  return match ? { paid: { signature: match.signature }, failed } : { failed };
}

/**
 * Waits until `attempt` reaches `commitment` and returns its slot; returns null once it provably
 * never will (not landed, and the finalized block height is past its `lastValidBlockHeight`).
 * Throws `failed` if it landed with an error, `unconfirmed` past the deadline.
 */
export async function confirmAttempt(
  rpc: TreasuryRpc,
  attempt: AttemptRef,
  wait: {
    commitment: "confirmed" | "finalized";
    deadline: number;
    pollIntervalMs: number;
    sleep(ms: number): Promise<void>;
  },
): Promise<bigint | null> {
  for (;;) {
    // Height first, status second: a status read after the height cannot miss a landing that
    // happened before the height was read.
    const height = await rpc.getBlockHeight({ commitment: "finalized" }).send();
    const { value } = await rpc
      .getSignatureStatuses([attempt.signature], { searchTransactionHistory: true })
      .send();
    const status = value[0];
    if (status) {
      if (status.err !== null) {
        throw new PayoutError(
          "failed",
          `payout transaction failed on chain: ${JSON.stringify(status.err)}`,
          attempt.signature,
        );
      }
      if (reaches(status.confirmationStatus, wait.commitment)) return status.slot;
    } else if (
      attempt.lastValidBlockHeight !== undefined &&
      height > attempt.lastValidBlockHeight
    ) {
      return null;
    }
    if (Date.now() >= wait.deadline) {
      throw new PayoutError(
        "unconfirmed",
        `payout ${attempt.signature} not ${wait.commitment} in time; retry with the recorded attempts`,
        attempt.signature,
      );
    }
    await wait.sleep(wait.pollIntervalMs);
  }
}

const RANK: Record<Commitment, number> = { processed: 0, confirmed: 1, finalized: 2 };

function reaches(status: Commitment | null, wanted: Commitment): boolean {
  return status !== null && RANK[status] >= RANK[wanted];
}

/**
 * The memo texts in a `getSignaturesForAddress` entry. Validators report each SPL Memo as
 * `[<byte length>] <text>` and join several with `; `.
 */
export function rpcMemos(field: string | null): string[] {
  if (!field) return [];
  return field.split("; ").map((m) => m.replace(/^\[\d+\] /, ""));
}
