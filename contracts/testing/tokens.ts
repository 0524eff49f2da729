/**
 * TEST FIXTURE: wallets and a USDC-like mint on a `TestChain`, set up with real transactions
 * (System `createAccount`, SPL Token `initializeMint2`, Associated Token `createIdempotent`,
 * `mintToChecked`) so the chain's history and token balances are what a cluster would show.
 */
import {
  type Address,
  appendTransactionMessageInstructions,
  createTransactionMessage,
  generateKeyPairSigner,
  type Instruction,
  type KeyPairSigner,
  lamports,
  pipe,
  type Signature,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type TransactionSigner,
} from "@solana/kit";
import { getCreateAccountInstruction } from "@solana-program/system";
import {
  getCreateAssociatedTokenIdempotentInstruction,
  getInitializeMint2Instruction,
  getMintToCheckedInstruction,
  getTokenDecoder,
  TOKEN_PROGRAM_ADDRESS,
} from "@solana-program/token";
import { associatedTokenAccount } from "../spl.ts";
import type { TestChain } from "./chain.ts";

const MINT_SIZE = 82n;

/** A new wallet holding `sol` SOL for fees and rent. */
export async function fundedSigner(chain: TestChain, sol = 10n): Promise<KeyPairSigner> {
  const signer = await generateKeyPairSigner();
  chain.svm.airdrop(signer.address, lamports(sol * 1_000_000_000n));
  return signer;
}

/**
 * Signs `instructions` into one v0 transaction with the chain's latest blockhash and submits it
 * (with preflight, as a wallet does); throws unless it landed without error.
 */
export async function sendInstructions(
  chain: TestChain,
  feePayer: TransactionSigner,
  instructions: readonly Instruction[],
): Promise<Signature> {
  const tx = await pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(feePayer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(chain.latestBlockhash(), m),
    (m) => appendTransactionMessageInstructions(instructions, m),
    (m) => signTransactionMessageWithSigners(m),
  );
  const signature = chain.submit(tx);
  const landed = chain.transaction(signature);
  if (!landed || landed.err !== null) {
    throw new Error(`fixture transaction did not land cleanly: ${JSON.stringify(landed?.err)}`);
  }
  return signature;
}

/** A new SPL Token mint (classic Token program) with `decimals`, minted by `authority`. */
export async function createMint(
  chain: TestChain,
  authority: KeyPairSigner,
  decimals = 6,
): Promise<Address> {
  const mint = await generateKeyPairSigner();
  await sendInstructions(chain, authority, [
    getCreateAccountInstruction({
      payer: authority,
      newAccount: mint,
      lamports: chain.svm.minimumBalanceForRentExemption(MINT_SIZE),
      space: MINT_SIZE,
      programAddress: TOKEN_PROGRAM_ADDRESS,
    }),
    getInitializeMint2Instruction({
      mint: mint.address,
      decimals,
      mintAuthority: authority.address,
    }),
  ]);
  return mint.address;
}

/** Creates `owner`'s associated token account for `mint` if it is missing; returns its address. */
export async function createTokenAccount(
  chain: TestChain,
  payer: TransactionSigner,
  owner: Address,
  mint: Address,
): Promise<Address> {
  const ata = await associatedTokenAccount(owner, mint);
  await sendInstructions(chain, payer, [
    getCreateAssociatedTokenIdempotentInstruction({ payer, ata, owner, mint }),
  ]);
  return ata;
}

/** Mints `amount` base units into `owner`'s associated token account, creating it if needed. */
export async function mintTo(
  chain: TestChain,
  authority: KeyPairSigner,
  mint: Address,
  owner: Address,
  amount: bigint,
  decimals = 6,
): Promise<void> {
  const ata = await associatedTokenAccount(owner, mint);
  await sendInstructions(chain, authority, [
    getCreateAssociatedTokenIdempotentInstruction({ payer: authority, ata, owner, mint }),
    getMintToCheckedInstruction({ mint, token: ata, mintAuthority: authority, amount, decimals }),
  ]);
}

/** What `owner`'s associated token account for `mint` holds, read straight from LiteSVM (0 if none). */
export async function tokenBalance(
  chain: TestChain,
  owner: Address,
  mint: Address,
): Promise<bigint> {
  const account = chain.svm.getAccount(await associatedTokenAccount(owner, mint));
  if (!account.exists) return 0n;
  return getTokenDecoder().decode(account.data).amount;
}
