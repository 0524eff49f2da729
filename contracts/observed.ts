import {
  type Address,
  type Commitment,
  type GetTransactionApiResponseBase64,
  getBase64Encoder,
  getCompiledTransactionMessageDecoder,
  getTransactionDecoder,
  type Signature,
  type TokenBalance,
  type TransactionError,
  type TransactionVersion,
} from "@solana/kit";
import type { TreasuryRpc } from "./rpc.ts";
import { SPL_MEMO_PROGRAM_ADDRESS, SPL_MEMO_V1_PROGRAM_ADDRESS } from "./spl.ts";

/**
 * A landed transaction as settlement reads it: decoded from the node's base64 wire bytes (we
 * decode and check the message ourselves instead of trusting a `jsonParsed` rendering), with the
 * token balances the node recorded before and after it ran, and the commitment it was read at.
 */
export interface ObservedTransaction {
  signature: Signature;
  slot: bigint;
  blockTime: bigint | null;
  /** The commitment the transaction was fetched at: only `finalized` can no longer be rolled back. */
  commitment: Commitment;
  err: TransactionError | null;
  /** Static keys, then the addresses loaded from lookup tables (writable, then read-only). */
  accountKeys: readonly Address[];
  /** The fee payer (first signer). */
  feePayer: Address;
  /** Text of every SPL Memo instruction, in order. */
  memos: readonly string[];
  preTokenBalances: readonly TokenBalance[];
  postTokenBalances: readonly TokenBalance[];
}

/** How one token account's balance moved in a transaction. */
export interface TokenBalanceChange {
  account: Address;
  mint: Address;
  owner: Address | undefined;
  pre: bigint;
  post: bigint;
  delta: bigint;
}

const MEMO_PROGRAMS = new Set<Address>([SPL_MEMO_PROGRAM_ADDRESS, SPL_MEMO_V1_PROGRAM_ADDRESS]);

/**
 * Fetches a transaction at `commitment` (null if the node has not seen it at that commitment):
 * base64 with `maxSupportedTransactionVersion: 0`, so versioned transactions come back too.
 */
export async function fetchObservedTransaction(
  rpc: TreasuryRpc,
  signature: Signature,
  commitment: "confirmed" | "finalized",
): Promise<ObservedTransaction | null> {
  const response = await rpc
    .getTransaction(signature, {
      commitment,
      encoding: "base64",
      maxSupportedTransactionVersion: 0 as const,
    })
    .send();
  return response ? observeTransaction(signature, response, commitment) : null;
}

/** Decodes a `getTransaction` base64 response. */
export function observeTransaction(
  signature: Signature,
  // biome-ignore lint/suspicious/noConfusingVoidType: kit's own parameter (void: no version asked)
  response: GetTransactionApiResponseBase64<TransactionVersion | void>,
  commitment: Commitment,
): ObservedTransaction {
  const meta = response.meta;
  if (!meta) throw new Error(`transaction ${signature} came back without its status meta`);
  const wire = getBase64Encoder().encode(response.transaction[0]);
  const { messageBytes } = getTransactionDecoder().decode(wire);
  const message = getCompiledTransactionMessageDecoder().decode(messageBytes);
  if (message.version === 1)
    throw new Error(`transaction ${signature} is v1, asked for v0 at most`);
  const loaded = "loadedAddresses" in meta ? meta.loadedAddresses : undefined;
  const accountKeys = [
    ...message.staticAccounts,
    ...(loaded?.writable ?? []),
    ...(loaded?.readonly ?? []),
  ];
  const memos: string[] = [];
  const utf8 = new TextDecoder();
  for (const ix of message.instructions) {
    const program = accountKeys[ix.programAddressIndex];
    if (program && MEMO_PROGRAMS.has(program)) memos.push(utf8.decode(ix.data ?? new Uint8Array()));
  }
  const feePayer = accountKeys[0];
  if (!feePayer) throw new Error(`transaction ${signature} has no accounts`);
  return {
    signature,
    slot: response.slot,
    blockTime: response.blockTime,
    commitment,
    err: meta.err,
    accountKeys,
    feePayer,
    memos,
    preTokenBalances: meta.preTokenBalances ?? [],
    postTokenBalances: meta.postTokenBalances ?? [],
  };
}

/**
 * Every token account whose balance the node recorded before or after the transaction, with the
 * change. An account missing on one side did not exist (or was not a token account) there, so it
 * counts as 0: an account created and funded in the same transaction shows its whole balance.
 */
export function tokenBalanceChanges(tx: ObservedTransaction): TokenBalanceChange[] {
  // Keyed by account and mint: an account closed and re-created for another mint in one
  // transaction is two changes, never one that mixes tokens.
  const changes = new Map<string, TokenBalanceChange>();
  const entry = (b: TokenBalance): TokenBalanceChange => {
    const account = tx.accountKeys[b.accountIndex];
    if (!account) throw new Error(`token balance names account #${b.accountIndex}, out of range`);
    const key = `${account}:${b.mint}`;
    let change = changes.get(key);
    if (!change) {
      change = { account, mint: b.mint, owner: b.owner, pre: 0n, post: 0n, delta: 0n };
      changes.set(key, change);
    }
    return change;
  };
  for (const b of tx.preTokenBalances) entry(b).pre = BigInt(b.uiTokenAmount.amount);
  for (const b of tx.postTokenBalances) {
    const change = entry(b);
    change.post = BigInt(b.uiTokenAmount.amount);
    change.owner = b.owner ?? change.owner;
  }
  for (const change of changes.values()) change.delta = change.post - change.pre;
  return [...changes.values()];
}
