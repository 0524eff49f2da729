import {
  type Address,
  address,
  isSolanaError,
  SOLANA_ERROR__JSON_RPC__INVALID_PARAMS,
} from "@solana/kit";
import { findAssociatedTokenPda, TOKEN_PROGRAM_ADDRESS } from "@solana-program/token";
import type { TreasuryRpc } from "./rpc.ts";
import "./runtime.ts";

/**
 * The SPL Memo program (v3) that the Solana Pay spec, wallets and the RPC's `memo` field of
 * `getSignaturesForAddress` all know. `@solana-program/memo` 0.15 defaults to a newer program
 * (`Memo4c2…`) that none of those recognise, so every memo we write names this one explicitly.
 */
export const SPL_MEMO_PROGRAM_ADDRESS = address("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/** The first SPL Memo program; still read, because older wallets write to it. */
export const SPL_MEMO_V1_PROGRAM_ADDRESS = address("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo");

/** The largest amount an SPL token account can hold (u64). */
export const MAX_TOKEN_AMOUNT = 2n ** 64n - 1n;

/**
 * Accepts an amount of token base units as a bigint or a safe integer and returns it as a bigint,
 * refusing fractions, negatives and anything that does not fit in a u64.
 */
export function toBaseUnits(amount: bigint | number, what = "amount"): bigint {
  if (typeof amount === "number" && !Number.isSafeInteger(amount)) {
    throw new RangeError(`${what} must be an integer count of base units, got ${amount}`);
  }
  const units = BigInt(amount);
  if (units < 0n || units > MAX_TOKEN_AMOUNT) {
    throw new RangeError(`${what} is outside 0..2^64-1: ${units}`);
  }
  return units;
}

/**
 * The associated token account of `owner` for `mint`: where Solana Pay wallets send tokens for a
 * `solana:<owner>?spl-token=<mint>` request, and where payouts land for a contributor's wallet.
 */
export async function associatedTokenAccount(
  owner: Address,
  mint: Address,
  tokenProgram: Address = TOKEN_PROGRAM_ADDRESS,
): Promise<Address> {
  const [ata] = await findAssociatedTokenPda({ owner, mint, tokenProgram });
  return ata;
}

/**
 * What the treasury's token account holds at `finalized`, in base units: the on-chain side of
 * the ledger proof. 0 while the account does not exist yet (the node answers "invalid param").
 */
export async function treasuryBalance(
  rpc: TreasuryRpc,
  treasury: Address,
  mint: Address,
  tokenProgram: Address = TOKEN_PROGRAM_ADDRESS,
): Promise<bigint> {
  const account = await associatedTokenAccount(treasury, mint, tokenProgram);
  try {
    const { value } = await rpc.getTokenAccountBalance(account, { commitment: "finalized" }).send();
    return BigInt(value.amount);
  } catch (e) {
    if (isSolanaError(e, SOLANA_ERROR__JSON_RPC__INVALID_PARAMS)) return 0n;
    throw e;
  }
}
