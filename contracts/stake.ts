import type { Address } from "@solana/kit";
import {
  checkDeposit,
  type DepositCheck,
  type DepositCheckOptions,
  type DepositIntent,
  depositRequest,
} from "./deposits.ts";
import type { TreasuryRpc } from "./rpc.ts";
import { toBaseUnits } from "./spl.ts";

/**
 * Stake (issue 7, "Payouts and stake"): a contributor locks USDC "the same way a customer
 * deposits", so on chain a stake is a deposit: a Solana Pay transfer to the treasury, found by its
 * reference and validated by the same rules (credit what arrived, once). Only the memo and the
 * books differ: the Treasury credits it to the contributor's stake, not to a balance. Slashed
 * stake stays in the treasury's token account and moves to insurance in the journal; unstaking
 * after the cooldown is paid out like earnings, through a payout batch.
 */

/** The memo a stake's transfer request asks the wallet to write on chain. */
export function stakeMemo(intentId: string): string {
  return `tessera stake ${intentId}`;
}

/** A fresh stake request for a contributor's wallet: a new reference and its `solana:` URL. */
export function stakeRequest(input: {
  intentId: string;
  contributor: Address;
  treasury: Address;
  mint: Address;
  amount: bigint | number;
}): { reference: Address; memo: string; url: string } {
  return depositRequest({
    intentId: input.intentId,
    treasury: input.treasury,
    mint: input.mint,
    amount: input.amount,
    label: "Tessera stake",
    message: `Stake for contributor ${input.contributor}`,
    memo: stakeMemo(input.intentId),
  });
}

/** `checkDeposit` for a stake intent: the same checks and codes. */
export function checkStake(
  rpc: TreasuryRpc,
  intent: DepositIntent,
  options: DepositCheckOptions,
): Promise<DepositCheck> {
  return checkDeposit(rpc, intent, options);
}

/**
 * The part of `stake` a cheating contributor loses, for a share in basis points (2500 = 25%),
 * rounded down to the base unit so the slash never exceeds the stated share.
 */
export function slashAmount(stake: bigint | number, shareBps: number): bigint {
  if (!Number.isInteger(shareBps) || shareBps < 0 || shareBps > 10_000) {
    throw new RangeError(`slash share must be 0..10000 basis points, got ${shareBps}`);
  }
  return (toBaseUnits(stake, "stake") * BigInt(shareBps)) / 10_000n;
}
