import {
  type Address,
  appendTransactionMessageInstructions,
  type Blockhash,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getTransactionMessageSize,
  getTransactionMessageSizeLimit,
  getTransactionSize,
  getTransactionSizeLimit,
  type Instruction,
  isAddress,
  isSolanaError,
  pipe,
  type Signature,
  SOLANA_ERROR__JSON_RPC__SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
  SOLANA_ERROR__TRANSACTION_ERROR__ALREADY_PROCESSED,
  SOLANA_ERROR__TRANSACTION_ERROR__BLOCKHASH_NOT_FOUND,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type TransactionSigner,
} from "@solana/kit";
import { getAddMemoInstruction } from "@solana-program/memo";
import { SYSTEM_PROGRAM_ADDRESS } from "@solana-program/system";
import {
  getCreateAssociatedTokenIdempotentInstruction,
  getTransferCheckedInstruction,
  TOKEN_PROGRAM_ADDRESS,
} from "@solana-program/token";
import { USDC_DECIMALS } from "../protocol/money.ts";
import {
  confirmAttempt,
  findLandedAttempt,
  type PayoutAttempt,
  PayoutError,
} from "./payout-status.ts";
import type { TreasuryRpc } from "./rpc.ts";
import { associatedTokenAccount, SPL_MEMO_PROGRAM_ADDRESS, toBaseUnits } from "./spl.ts";

export { type PayoutAttempt, PayoutError, type PayoutErrorCode } from "./payout-status.ts";

/**
 * Payouts out (issue 7, "Payouts and stake"): contributors' earnings paid in batched SPL
 * `transferChecked`s from the treasury's token account, signed by the treasury key, with the
 * payout ids in a memo. `payBatch` never pays a batch twice, whatever crashes in between: every
 * signed attempt is recorded (`sent`) before it is sent, and before sending anything the chain is
 * asked whether an earlier attempt of the batch already landed.
 */

/**
 * At most this many transfers per batch (compute stays far under the limit); fewer when their ids
 * and accounts do not fit 1232 bytes, which `planPayoutBatches` measures.
 */
export const MAX_PAYOUTS_PER_BATCH = 8;
const MAX_PAYOUT_ID_LENGTH = 40;

export interface Payout {
  /** The payout's id, carried in the memo; at most 40 characters, no commas or whitespace. */
  id: string;
  /** The contributor's wallet; the tokens go to its associated token account. */
  address: Address;
  /** Base units, more than 0. */
  amount: bigint | number;
}

export interface PayoutBatchRequest {
  /** The treasury key: owns the source token account, pays fees and any new account's rent. */
  treasury: TransactionSigner;
  mint: Address;
  /** The mint's decimals (`transferChecked` checks them); USDC's 6 by default. */
  decimals?: number;
  tokenProgram?: Address;
  payouts: readonly Payout[];
}

export interface PayoutBatch extends PayoutAttempt {
  memo: string;
  payoutIds: string[];
  total: bigint;
}

/** The memo of a batch: `tessera payout <id>[,<id>…]`. */
export function payoutMemo(ids: readonly string[]): string {
  return `tessera payout ${ids.join(",")}`;
}

/**
 * Splits payouts into batches, in order: each takes at most `maxPerBatch` payouts and as many as
 * fit the 1232-byte transaction limit (measured on the compiled message, since long ids and new
 * recipients cost bytes). Plan once and store the batches: a batch is identified on chain by its
 * memo, so its payouts must not change between attempts.
 */
export async function planPayoutBatches<T extends Payout>(
  request: Omit<PayoutBatchRequest, "payouts"> & { payouts: readonly T[] },
  maxPerBatch = MAX_PAYOUTS_PER_BATCH,
): Promise<T[][]> {
  const ids = new Set(request.payouts.map((p) => p.id));
  if (ids.size !== request.payouts.length) {
    throw new PayoutError("invalid_batch", "payout ids repeat; each payout is paid once");
  }
  const batches: T[][] = [];
  let current: T[] = [];
  for (const payout of request.payouts) {
    const candidate = [...current, payout];
    const fits =
      candidate.length <= maxPerBatch &&
      (await fitsOneTransaction({ ...request, payouts: candidate }));
    if (fits) {
      current = candidate;
      continue;
    }
    if (current.length === 0) {
      throw new PayoutError("too_large", `payout ${payout.id} alone does not fit a transaction`);
    }
    batches.push(current);
    current = [payout];
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Signs one payout transaction: the memo, then per payout an idempotent create of the recipient's
 * associated token account (a no-op when it exists; the treasury pays the rent when it does not)
 * and a `transferChecked` from the treasury's account. Refuses batches that do not fit a
 * transaction.
 */
export async function buildPayoutBatch(
  request: PayoutBatchRequest & {
    blockhash: { blockhash: Blockhash; lastValidBlockHeight: bigint };
  },
): Promise<PayoutBatch> {
  checkPayouts(request.payouts);
  const { message, memo, total } = await payoutMessage(request, request.blockhash);
  const tx = await signTransactionMessageWithSigners(message);
  const size = getTransactionSize(tx);
  if (size > getTransactionSizeLimit(tx)) {
    throw new PayoutError(
      "too_large",
      `batch is ${size} bytes, over ${getTransactionSizeLimit(tx)}; plan with planPayoutBatches`,
    );
  }
  return {
    signature: getSignatureFromTransaction(tx),
    transaction: getBase64EncodedWireTransaction(tx),
    lastValidBlockHeight: request.blockhash.lastValidBlockHeight,
    memo,
    payoutIds: request.payouts.map((p) => p.id),
    total,
  };
}

async function payoutMessage(
  request: PayoutBatchRequest,
  blockhash: { blockhash: Blockhash; lastValidBlockHeight: bigint },
) {
  const { treasury, mint, payouts } = request;
  const tokenProgram = request.tokenProgram ?? TOKEN_PROGRAM_ADDRESS;
  const decimals = request.decimals ?? USDC_DECIMALS;
  const source = await associatedTokenAccount(treasury.address, mint, tokenProgram);
  const memo = payoutMemo(payouts.map((p) => p.id));
  const instructions: Instruction[] = [
    getAddMemoInstruction({ memo }, { programAddress: SPL_MEMO_PROGRAM_ADDRESS }),
  ];
  let total = 0n;
  for (const payout of payouts) {
    const amount = toBaseUnits(payout.amount, `payout ${payout.id}`);
    total += amount;
    const ata = await associatedTokenAccount(payout.address, mint, tokenProgram);
    instructions.push(
      getCreateAssociatedTokenIdempotentInstruction({
        payer: treasury,
        ata,
        owner: payout.address,
        mint,
        tokenProgram,
      }),
      getTransferCheckedInstruction(
        { source, mint, destination: ata, authority: treasury, amount, decimals },
        { programAddress: tokenProgram },
      ),
    );
  }
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(treasury, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  return { message, memo, total };
}

/** Whether a batch compiles within the size limit (any blockhash is 32 bytes, so a stand-in does). */
async function fitsOneTransaction(request: PayoutBatchRequest): Promise<boolean> {
  checkPayouts(request.payouts);
  const { message } = await payoutMessage(request, {
    blockhash: SYSTEM_PROGRAM_ADDRESS as string as Blockhash,
    lastValidBlockHeight: 0n,
  });
  return getTransactionMessageSize(message) <= getTransactionMessageSizeLimit(message);
}

export interface PayBatchOptions {
  /**
   * Attempts recorded by earlier calls for this batch (their `sent`), in any order. Pass them all:
   * they are how a retry learns that the batch was already paid.
   */
  attempts: readonly PayoutAttempt[];
  /**
   * Called with each new signed attempt before it is sent; must store it durably (in the
   * Treasury's SQLite, in the same batch row) and resolve only then. If it throws, nothing is sent.
   */
  sent(attempt: PayoutAttempt): void | Promise<void>;
  /** Wait for `finalized` (default) or stop at `confirmed`. */
  commitment?: "confirmed" | "finalized";
  /** Give up waiting after this long (then `unconfirmed`; call again later). Default 90 s. */
  timeoutMs?: number;
  pollIntervalMs?: number;
  /** How to wait between polls; tests move a simulated cluster on instead of sleeping. */
  sleep?(ms: number): Promise<void>;
}

export interface PayoutResult {
  signature: Signature;
  slot: bigint;
  /** True when an earlier attempt had landed and nothing was sent this time. */
  alreadyPaid: boolean;
}

/**
 * Pays a batch exactly once. Before sending anything it asks the chain about every recorded
 * attempt (`getSignatureStatuses` with history) and scans the treasury's recent transactions for
 * the batch's memo (in case an attempt's record was lost); if one landed, that is the payment.
 * Otherwise it re-sends the newest recorded attempt while its blockhash can still land (the same
 * signed bytes: a transaction cannot execute twice), or signs a new one with a fresh blockhash
 * once every earlier attempt has provably expired (finalized block height past its
 * `lastValidBlockHeight`), recording it with `sent` first. Then it waits for the commitment.
 *
 * @example
 * const result = await payBatch(rpc, { treasury, mint, payouts }, {
 *   attempts: storedAttempts(batchId),
 *   sent: (a) => storeAttempt(batchId, a),
 * });
 * markPaid(batchId, result.signature);
 */
export async function payBatch(
  rpc: TreasuryRpc,
  request: PayoutBatchRequest,
  options: PayBatchOptions,
): Promise<PayoutResult> {
  checkPayouts(request.payouts);
  const memo = payoutMemo(request.payouts.map((p) => p.id));
  const commitment = options.commitment ?? "finalized";
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  const wait = {
    commitment,
    deadline,
    pollIntervalMs: options.pollIntervalMs ?? 2_000,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
  };
  const attempts = [...options.attempts];

  for (;;) {
    const { paid, failed } = await findLandedAttempt(rpc, attempts, request.treasury.address, memo);
    if (paid) {
      const slot = await confirmAttempt(rpc, paid, wait);
      if (slot === null) throw new Error("unreachable: a landed attempt cannot expire");
      return { signature: paid.signature, slot, alreadyPaid: true };
    }
    const height = await rpc.getBlockHeight({ commitment: "finalized" }).send();
    // Re-sendable: not landed (a failed one cannot run again) and its blockhash not yet expired.
    const live = attempts
      .filter((a) => !failed.has(a.signature) && a.lastValidBlockHeight >= height)
      .sort((a, b) => Number(b.lastValidBlockHeight - a.lastValidBlockHeight))[0];
    let attempt: PayoutAttempt;
    if (live) {
      attempt = live;
    } else {
      const { value: blockhash } = await rpc.getLatestBlockhash({ commitment: "confirmed" }).send();
      const batch = await buildPayoutBatch({ ...request, blockhash });
      attempt = {
        signature: batch.signature,
        transaction: batch.transaction,
        lastValidBlockHeight: batch.lastValidBlockHeight,
      };
      await options.sent(attempt);
      attempts.push(attempt);
    }
    await send(rpc, attempt);
    const slot = await confirmAttempt(rpc, attempt, wait);
    if (slot !== null) return { signature: attempt.signature, slot, alreadyPaid: false };
    // The attempt expired without landing: loop, check everything again, and sign a new one.
  }
}

async function send(rpc: TreasuryRpc, attempt: PayoutAttempt): Promise<void> {
  try {
    await rpc
      .sendTransaction(attempt.transaction, {
        encoding: "base64",
        preflightCommitment: "confirmed",
      })
      .send();
  } catch (e) {
    if (
      !isSolanaError(e, SOLANA_ERROR__JSON_RPC__SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE)
    ) {
      // Lost on the way (timeout, dropped connection): it may have been sent; the wait decides.
      return;
    }
    // Preflight refused it. Already landed, or its blockhash too old for the node (the finalized
    // height lags the node's): the wait decides, as for a lost send.
    if (
      isSolanaError(e.cause, SOLANA_ERROR__TRANSACTION_ERROR__ALREADY_PROCESSED) ||
      isSolanaError(e.cause, SOLANA_ERROR__TRANSACTION_ERROR__BLOCKHASH_NOT_FOUND)
    ) {
      return;
    }
    const { value } = await rpc
      .getSignatureStatuses([attempt.signature], { searchTransactionHistory: true })
      .send();
    if (value[0]) return;
    throw new PayoutError(
      "rejected",
      `preflight refused the batch: ${e.message}`,
      attempt.signature,
    );
  }
}

function checkPayouts(payouts: readonly Payout[]): void {
  if (payouts.length === 0 || payouts.length > MAX_PAYOUTS_PER_BATCH) {
    throw new PayoutError(
      "invalid_batch",
      `a batch has 1 to ${MAX_PAYOUTS_PER_BATCH} payouts, not ${payouts.length}`,
    );
  }
  const ids = new Set<string>();
  for (const p of payouts) {
    if (!/^[^\s,]{1,40}$/.test(p.id) || p.id.length > MAX_PAYOUT_ID_LENGTH) {
      throw new PayoutError(
        "invalid_batch",
        `payout id ${JSON.stringify(p.id)} cannot go in a memo`,
      );
    }
    if (ids.has(p.id)) throw new PayoutError("invalid_batch", `payout ${p.id} appears twice`);
    ids.add(p.id);
    if (!isAddress(p.address)) {
      throw new PayoutError("invalid_batch", `payout ${p.id}: ${p.address} is not an address`);
    }
    if (toBaseUnits(p.amount, `payout ${p.id}`) === 0n) {
      throw new PayoutError("invalid_batch", `payout ${p.id} is for nothing`);
    }
  }
}
