/**
 * TEST FIXTURE, not production code: a small cluster over LiteSVM for the RPC front
 * (`rpc-front.ts`). LiteSVM executes real transactions with the real System, SPL Token,
 * Associated Token and Memo programs, but it keeps no slots, commitments, blockhash lifetimes or
 * token balance records, which is what settlement reads. This adds them, modelled on a validator:
 *
 * - every landed transaction gets its own slot, and the block height moves with the slot;
 * - a transaction is `confirmed` when it lands and `finalized` `finalityLag` slots later;
 * - every slot has a new blockhash, valid for 150 blocks (the lifetime a real cluster gives);
 *   a transaction whose blockhash is unknown or past its last valid block height never lands;
 * - a transaction that fails while executing lands anyway with its error and pays its fee;
 *   one refused before executing (bad blockhash, already processed, bad signature) does not;
 * - pre/post lamport and token balances are recorded for every account of the transaction.
 *
 * Not modelled: forks, skipped slots, address lookup tables, inner instructions, rewards.
 */
import {
  type Address,
  type Base64EncodedWireTransaction,
  type Blockhash,
  getBase64EncodedWireTransaction,
  getCompiledTransactionMessageDecoder,
  getSignatureFromTransaction,
  type Signature,
  type StringifiedBigInt,
  type StringifiedNumber,
  type TokenBalance,
  type Transaction,
  type TransactionError,
  type UnixTimestamp,
  unixTimestamp,
} from "@solana/kit";
import { getMintDecoder, getTokenDecoder, TOKEN_PROGRAM_ADDRESS } from "@solana-program/token";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import { SPL_MEMO_PROGRAM_ADDRESS, SPL_MEMO_V1_PROGRAM_ADDRESS } from "../spl.ts";
import { transactionError } from "./transaction-errors.ts";

const TOKEN_2022_PROGRAM_ADDRESS = "TokenzQdBNbLqP5VEhdkAS6EnZLZoZqm2fhN1f8U8kAQ5" as Address;
const TOKEN_ACCOUNT_SIZE = 165;
const MINT_SIZE = 82;
/** Blocks a blockhash stays usable for on mainnet (MAX_PROCESSING_AGE). */
export const BLOCKHASH_LIFETIME = 150n;
/** LiteSVM's fee per signature. */
const LAMPORTS_PER_SIGNATURE = 5000n;

export interface LandedTransaction {
  signature: Signature;
  slot: bigint;
  blockTime: UnixTimestamp;
  wire: Base64EncodedWireTransaction;
  version: "legacy" | 0;
  accountKeys: readonly Address[];
  err: TransactionError | null;
  fee: bigint;
  logs: readonly string[];
  computeUnits: bigint;
  preBalances: readonly bigint[];
  postBalances: readonly bigint[];
  preTokenBalances: readonly TokenBalance[];
  postTokenBalances: readonly TokenBalance[];
  /** What `getSignaturesForAddress` reports as `memo`: `[<bytes>] <text>` per memo, `; `-joined. */
  memo: string | null;
}

/** A transaction the node refused in preflight simulation (JSON-RPC error -32002). */
export class PreflightError extends Error {
  constructor(
    readonly err: TransactionError,
    readonly logs: readonly string[],
  ) {
    super(`Transaction simulation failed: ${JSON.stringify(err)}`);
  }
}

export class TestChain {
  readonly svm: LiteSVM;
  /** Slots between landing (`confirmed`) and `finalized`; 0 finalizes on landing. */
  finalityLag: bigint;
  /** The next this-many transactions are accepted by `submit` and then lost, never landing. */
  dropIncoming = 0;
  private slotNow: bigint;
  private height = 250_000_000n;
  private readonly startSlot: bigint;
  private readonly startTime = BigInt(Math.floor(Date.now() / 1000));
  private readonly blockhashes = new Map<Blockhash, bigint>();
  private latest!: { blockhash: Blockhash; lastValidBlockHeight: bigint };
  private readonly landed: LandedTransaction[] = [];
  private readonly bySignature = new Map<Signature, LandedTransaction>();

  constructor(options: { finalityLag?: number } = {}) {
    // Blockhash ages are checked here, against the block height; LiteSVM only knows its latest.
    this.svm = new LiteSVM().withBlockhashCheck(false);
    this.finalityLag = BigInt(options.finalityLag ?? 0);
    this.slotNow = this.svm.getClock().slot;
    this.startSlot = this.slotNow;
    this.newBlockhash();
  }

  get slot(): bigint {
    return this.slotNow;
  }

  blockHeight(commitment: "confirmed" | "finalized" = "confirmed"): bigint {
    return commitment === "finalized" ? this.height - this.finalityLag : this.height;
  }

  finalizedSlot(): bigint {
    return this.slotNow - this.finalityLag;
  }

  latestBlockhash(): { blockhash: Blockhash; lastValidBlockHeight: bigint } {
    return this.latest;
  }

  commitmentOf(tx: LandedTransaction): "confirmed" | "finalized" {
    return tx.slot <= this.finalizedSlot() ? "finalized" : "confirmed";
  }

  history(): readonly LandedTransaction[] {
    return this.landed;
  }

  transaction(signature: Signature): LandedTransaction | undefined {
    return this.bySignature.get(signature);
  }

  /** Moves the cluster on by `blocks` slots, each with a new blockhash. */
  advance(blocks = 1): void {
    for (let i = 0; i < blocks; i++) {
      this.slotNow += 1n;
      this.height += 1n;
      this.svm.warpToSlot(this.slotNow);
      this.newBlockhash();
    }
    for (const [hash, lastValid] of this.blockhashes) {
      if (lastValid < this.height) this.blockhashes.delete(hash);
    }
  }

  /**
   * What a node does with `sendTransaction`: preflight (unless skipped), then the leader lands it
   * or drops it. Returns the signature either way, as the RPC does.
   */
  submit(tx: Transaction, options: { skipPreflight?: boolean } = {}): Signature {
    const signature = getSignatureFromTransaction(tx);
    const message = getCompiledTransactionMessageDecoder().decode(tx.messageBytes);
    if (message.version === 1) throw new Error("fixture: v1 transactions are not modelled");
    if (message.version === 0 && (message.addressTableLookups?.length ?? 0) > 0) {
      throw new Error("fixture: address lookup tables are not modelled");
    }
    const lastValid = this.blockhashes.get(message.lifetimeToken as Blockhash);
    const blockhashValid = lastValid !== undefined && lastValid >= this.height;
    if (!options.skipPreflight) {
      if (!blockhashValid) throw new PreflightError("BlockhashNotFound", []);
      const simulated = this.svm.simulateTransaction(tx);
      if (simulated instanceof FailedTransactionMetadata) {
        throw new PreflightError(transactionError(simulated.err()), simulated.meta().logs());
      }
    }
    if (!blockhashValid) return signature;
    if (this.dropIncoming > 0) {
      this.dropIncoming -= 1;
      return signature;
    }

    const keys = message.staticAccounts;
    const preBalances = keys.map((k) => this.svm.getBalance(k) ?? 0n);
    const preTokenBalances = this.tokenBalances(keys);
    const result = this.svm.sendTransaction(tx);
    let err: TransactionError | null = null;
    if (result instanceof FailedTransactionMetadata) {
      const raw = result.err();
      // A fieldless error (a number) is a refusal before execution: nothing lands.
      if (typeof raw === "number") return signature;
      err = transactionError(raw);
    }
    const executed = result instanceof FailedTransactionMetadata ? result.meta() : result;
    const landed: LandedTransaction = {
      signature,
      slot: this.slotNow,
      blockTime: unixTimestamp(this.startTime + ((this.slotNow - this.startSlot) * 2n) / 5n),
      wire: getBase64EncodedWireTransaction(tx),
      version: message.version,
      accountKeys: keys,
      err,
      fee: LAMPORTS_PER_SIGNATURE * BigInt(message.header.numSignerAccounts),
      logs: executed.logs(),
      computeUnits: executed.computeUnitsConsumed(),
      preBalances,
      postBalances: keys.map((k) => this.svm.getBalance(k) ?? 0n),
      preTokenBalances,
      postTokenBalances: this.tokenBalances(keys),
      memo: rpcMemo(keys, message.instructions),
    };
    this.landed.push(landed);
    this.bySignature.set(signature, landed);
    this.advance(1);
    return signature;
  }

  /** The SPL token balance of one account as `getTokenAccountBalance` reports it, if it is one. */
  tokenAmount(account: Address): TokenBalance["uiTokenAmount"] | undefined {
    return this.tokenBalance(account, 0)?.uiTokenAmount;
  }

  private newBlockhash(): void {
    this.svm.expireBlockhash();
    const blockhash = this.svm.latestBlockhash();
    this.latest = { blockhash, lastValidBlockHeight: this.height + BLOCKHASH_LIFETIME };
    this.blockhashes.set(blockhash, this.latest.lastValidBlockHeight);
  }

  private tokenBalances(keys: readonly Address[]): TokenBalance[] {
    return keys.flatMap((key, i) => this.tokenBalance(key, i) ?? []);
  }

  private tokenBalance(key: Address, accountIndex: number): TokenBalance | undefined {
    const account = this.svm.getAccount(key);
    if (!account.exists) return undefined;
    const programId = account.programAddress;
    if (programId !== TOKEN_PROGRAM_ADDRESS && programId !== TOKEN_2022_PROGRAM_ADDRESS) return;
    if (account.data.length < TOKEN_ACCOUNT_SIZE) return undefined;
    const token = getTokenDecoder().decode(account.data.slice(0, TOKEN_ACCOUNT_SIZE));
    if (token.state === 0) return undefined; // uninitialized
    const mint = this.svm.getAccount(token.mint);
    if (!mint.exists) return undefined;
    const { decimals } = getMintDecoder().decode(mint.data.slice(0, MINT_SIZE));
    return {
      accountIndex,
      mint: token.mint,
      owner: token.owner,
      programId,
      uiTokenAmount: {
        amount: token.amount.toString() as StringifiedBigInt,
        decimals,
        uiAmount: Number(token.amount) / 10 ** decimals,
        uiAmountString: uiAmountString(token.amount, decimals) as StringifiedNumber,
      },
    };
  }
}

function uiAmountString(amount: bigint, decimals: number): string {
  const scale = 10n ** BigInt(decimals);
  const frac = (amount % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
  return frac ? `${amount / scale}.${frac}` : `${amount / scale}`;
}

/** The `memo` field a validator's `getSignaturesForAddress` reports for a transaction. */
function rpcMemo(
  keys: readonly Address[],
  instructions: readonly { programAddressIndex: number; data?: Uint8Array | ArrayLike<number> }[],
): string | null {
  const memos = instructions
    .filter((ix) => {
      const program = keys[ix.programAddressIndex];
      return program === SPL_MEMO_PROGRAM_ADDRESS || program === SPL_MEMO_V1_PROGRAM_ADDRESS;
    })
    .map((ix) => {
      const data = Uint8Array.from(ix.data ?? []);
      return `[${data.length}] ${new TextDecoder().decode(data)}`;
    });
  return memos.length > 0 ? memos.join("; ") : null;
}
