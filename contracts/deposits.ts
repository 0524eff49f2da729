import type { Address, Signature } from "@solana/kit";
import { TOKEN_PROGRAM_ADDRESS } from "@solana-program/token";
import {
  fetchObservedTransaction,
  type ObservedTransaction,
  tokenBalanceChanges,
} from "./observed.ts";
import type { TreasuryRpc } from "./rpc.ts";
import { newReference, transferRequestUrl } from "./solana-pay.ts";
import { associatedTokenAccount, toBaseUnits } from "./spl.ts";

/**
 * Deposits in: a customer pays a Solana Pay transfer request, and the treasury finds the payment
 * by the request's `reference` and decides what to credit (issue 7, "Deposits").
 *
 * The rule for amounts: credit exactly what arrived in the treasury's token account, once.
 * Paying less than asked is accepted and credited as received, with the `shortfall` reported
 * beside it (the money is in the treasury either way; refusing it would strand the customer's
 * funds). Paying more credits the whole amount (`excess`). A transfer that moved nothing into the
 * treasury account is refused. A caller that must have the full amount (stake with a minimum)
 * passes `underpayment: "reject"` and gets `underpaid` instead.
 */

/**
 * Why a deposit was not credited. Stable codes (never renamed or reused); `retry` says whether
 * looking again later can change the answer.
 */
export const DEPOSIT_ERRORS = {
  not_found: { retry: true, title: "No payment referencing this deposit has landed" },
  not_final: { retry: true, title: "The payment has landed but is not finalized yet" },
  transaction_failed: { retry: false, title: "The transaction failed on chain; nothing moved" },
  wrong_mint: { retry: false, title: "The payment was made in another token" },
  wrong_recipient: {
    retry: false,
    title: "The payment went to an account other than the treasury's",
  },
  underpaid: { retry: false, title: "Less than required arrived in the treasury" },
  replayed: { retry: false, title: "The payment was already credited to another deposit" },
} as const satisfies Record<string, { retry: boolean; title: string }>;

export type DepositErrorCode = keyof typeof DEPOSIT_ERRORS;

export interface DepositIntent {
  /** The Solana Pay `reference` of this intent: the key its payment is found by. */
  reference: Address;
  /** What was asked for, in base units. */
  amount: bigint | number;
  /** The treasury wallet; payments land in its associated token account for `mint`. */
  treasury: Address;
  mint: Address;
  /** The mint's token program; the classic SPL Token program by default. */
  tokenProgram?: Address;
}

export interface DepositAccepted {
  ok: true;
  signature: Signature;
  slot: bigint;
  blockTime: bigint | null;
  /** Base units that arrived in the treasury account: the amount to credit. */
  received: bigint;
  requested: bigint;
  /** `requested - received` when less arrived, else 0. */
  shortfall: bigint;
  /** `received - requested` when more arrived, else 0. */
  excess: bigint;
  /** The transaction's fee payer: who to talk to about a shortfall or a refund. */
  payer: Address;
  memos: readonly string[];
}

export interface DepositRejected {
  ok: false;
  code: DepositErrorCode;
  detail: string;
  signature?: Signature;
  /** For `underpaid`: what did arrive (possibly 0). */
  received?: bigint;
}

export type DepositCheck = DepositAccepted | DepositRejected;

export interface DepositCheckOptions {
  /**
   * True when `signature` was already credited to a different intent. A transaction can carry
   * several references, so one payment can show up under two intents; this is what stops it
   * being credited twice.
   */
  seen(signature: Signature): boolean | Promise<boolean>;
  /** `credit` (default): accept a partial payment and report the shortfall; `reject`: refuse it. */
  underpayment?: "credit" | "reject";
}

/** The memo a deposit's transfer request asks the wallet to write on chain. */
export function depositMemo(intentId: string): string {
  return `tessera deposit ${intentId}`;
}

/**
 * A fresh deposit request: a new reference and the `solana:` URL for it. Store the reference
 * with the intent; the URL (or a QR code of it) goes to the customer.
 */
export function depositRequest(input: {
  intentId: string;
  treasury: Address;
  mint: Address;
  amount: bigint | number;
  label?: string;
  message?: string;
  memo?: string;
  decimals?: number;
}): { reference: Address; memo: string; url: string } {
  const reference = newReference();
  const memo = input.memo ?? depositMemo(input.intentId);
  const url = transferRequestUrl({
    recipient: input.treasury,
    amount: input.amount,
    splToken: input.mint,
    reference,
    label: input.label ?? "Tessera",
    message: input.message ?? `Deposit ${input.intentId}`,
    memo,
    ...(input.decimals === undefined ? {} : { decimals: input.decimals }),
  });
  return { reference, memo, url };
}

/**
 * The successful transactions that carry the intent's reference, oldest first (a customer may
 * pay twice; the first valid payment is the deposit). Failed transactions are skipped: they moved
 * no tokens, and the customer may try again with the same request. Each is read at `finalized`
 * when the node says it is final, else at `confirmed` (and `validateDeposit` then says
 * `not_final`).
 */
export async function findDeposit(
  rpc: TreasuryRpc,
  intent: Pick<DepositIntent, "reference">,
  options: { limit?: number } = {},
): Promise<{ ok: true; transactions: ObservedTransaction[] } | DepositRejected> {
  const signatures = await rpc
    .getSignaturesForAddress(intent.reference, {
      commitment: "confirmed",
      limit: options.limit ?? 100,
    })
    .send();
  const landed = signatures.filter((s) => s.err === null).reverse();
  if (landed.length === 0) {
    return {
      ok: false,
      code: "not_found",
      detail:
        signatures.length === 0
          ? `no transaction references ${intent.reference} yet`
          : `only failed transactions reference ${intent.reference}`,
    };
  }
  const transactions: ObservedTransaction[] = [];
  for (const s of landed) {
    const tx =
      (s.confirmationStatus === "finalized"
        ? await fetchObservedTransaction(rpc, s.signature, "finalized")
        : null) ?? (await fetchObservedTransaction(rpc, s.signature, "confirmed"));
    if (tx) transactions.push(tx);
  }
  if (transactions.length === 0) {
    return {
      ok: false,
      code: "not_found",
      detail: "the node lists the payment but cannot return it",
    };
  }
  return { ok: true, transactions };
}

/**
 * Decides what one transaction credits to an intent. Checks, in order: it succeeded; it carries
 * the intent's reference; it is finalized; its signature was not credited to another intent;
 * then what moved. The amount is the rise of the treasury's associated token account for the
 * intent's mint, from the node's pre/post token balances: what actually arrived, whatever the
 * instructions claimed. When nothing arrived there, the code says where the money went instead.
 */
export async function validateDeposit(
  tx: ObservedTransaction,
  intent: DepositIntent,
  options: DepositCheckOptions,
): Promise<DepositCheck> {
  const signature = tx.signature;
  if (tx.err !== null) {
    return reject(
      "transaction_failed",
      `${signature} failed: ${JSON.stringify(tx.err)}`,
      signature,
    );
  }
  if (!tx.accountKeys.includes(intent.reference)) {
    return reject(
      "not_found",
      `${signature} does not carry reference ${intent.reference}`,
      signature,
    );
  }
  if (tx.commitment !== "finalized") {
    return reject("not_final", `${signature} is ${tx.commitment}, not finalized`, signature);
  }
  if (await options.seen(signature)) {
    return reject("replayed", `${signature} was already credited to another deposit`, signature);
  }

  const requested = toBaseUnits(intent.amount, "intent amount");
  const treasuryAccount = await associatedTokenAccount(
    intent.treasury,
    intent.mint,
    intent.tokenProgram ?? TOKEN_PROGRAM_ADDRESS,
  );
  const changes = tokenBalanceChanges(tx);
  const mine = changes.find((c) => c.account === treasuryAccount && c.mint === intent.mint);
  if (mine?.owner !== undefined && mine.owner !== intent.treasury) {
    return reject("wrong_recipient", `${treasuryAccount} is not owned by the treasury`, signature);
  }
  const received = mine?.delta ?? 0n;

  if (received <= 0n) {
    const arrived = changes.filter((c) => c.delta > 0n);
    if (arrived.some((c) => c.mint === intent.mint)) {
      return reject(
        "wrong_recipient",
        `${signature} paid ${intent.mint} to ${arrived.find((c) => c.mint === intent.mint)?.account}, not to the treasury's ${treasuryAccount}`,
        signature,
      );
    }
    if (arrived.length > 0) {
      return reject(
        "wrong_mint",
        `${signature} paid in ${arrived[0]?.mint}, not ${intent.mint}`,
        signature,
      );
    }
    return {
      ...reject("underpaid", `${signature} moved nothing into the treasury`, signature),
      received: 0n,
    };
  }

  const shortfall = received < requested ? requested - received : 0n;
  if (shortfall > 0n && options.underpayment === "reject") {
    return {
      ...reject("underpaid", `${signature} paid ${received} of ${requested} base units`, signature),
      received,
    };
  }
  return {
    ok: true,
    signature,
    slot: tx.slot,
    blockTime: tx.blockTime,
    received,
    requested,
    shortfall,
    excess: received > requested ? received - requested : 0n,
    payer: tx.feePayer,
    memos: tx.memos,
  };
}

/**
 * What the treasury's watcher calls for each open intent: finds the payments carrying its
 * reference and returns the first one that validates. If none does: `not_final` when a payment
 * may still become final, else the answer for the oldest payment.
 *
 * @example
 * const check = await checkDeposit(rpc, intent, { seen: (sig) => creditedElsewhere(sig, id) });
 * if (check.ok) credit(accountId, check.received, `deposit:${check.signature}`);
 * else if (!DEPOSIT_ERRORS[check.code].retry) markFailed(id, check.code);
 */
export async function checkDeposit(
  rpc: TreasuryRpc,
  intent: DepositIntent,
  options: DepositCheckOptions,
): Promise<DepositCheck> {
  const found = await findDeposit(rpc, intent);
  if (!found.ok) return found;
  const rejected: DepositRejected[] = [];
  for (const tx of found.transactions) {
    const check = await validateDeposit(tx, intent, options);
    if (check.ok) return check;
    rejected.push(check);
  }
  // A payment that may still become final keeps the intent open, whatever came before it.
  return (
    rejected.find((r) => r.code === "not_final") ??
    rejected[0] ?? { ok: false, code: "not_found", detail: "no payment found" }
  );
}

function reject(code: DepositErrorCode, detail: string, signature?: Signature): DepositRejected {
  return signature ? { ok: false, code, detail, signature } : { ok: false, code, detail };
}
