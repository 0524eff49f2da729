/**
 * Solana settlement for the `Treasury` Durable Object: what it imports. Deposits and stake come
 * in as Solana Pay transfers found by reference; payouts go out in memo-tagged batches that are
 * never paid twice. Nothing here knows HTTP or Durable Objects; it talks JSON-RPC over `fetch`.
 */
import "./runtime.ts";

export {
  checkDeposit,
  DEPOSIT_ERRORS,
  type DepositAccepted,
  type DepositCheck,
  type DepositCheckOptions,
  type DepositErrorCode,
  type DepositIntent,
  type DepositRejected,
  depositMemo,
  depositRequest,
  findDeposit,
  validateDeposit,
} from "./deposits.ts";
export { type ObservedTransaction, tokenBalanceChanges } from "./observed.ts";
export {
  buildPayoutBatch,
  MAX_PAYOUTS_PER_BATCH,
  type PayBatchOptions,
  type Payout,
  type PayoutAttempt,
  type PayoutBatch,
  type PayoutBatchRequest,
  PayoutError,
  type PayoutErrorCode,
  type PayoutResult,
  payBatch,
  payoutMemo,
  planPayoutBatches,
} from "./payouts.ts";
export { createTreasuryRpc, type TreasuryRpc, type TreasuryRpcApi } from "./rpc.ts";
export {
  newReference,
  parseTransferRequestUrl,
  type TransferRequest,
  TransferRequestError,
  transferRequestUrl,
} from "./solana-pay.ts";
export { associatedTokenAccount, treasuryBalance } from "./spl.ts";
export { checkStake, slashAmount, stakeMemo, stakeRequest } from "./stake.ts";
export { treasurySigner } from "./treasury-key.ts";
