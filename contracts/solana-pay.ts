import { type Address, getAddressDecoder, isAddress } from "@solana/kit";
import { USDC_DECIMALS } from "../protocol/money.ts";
import { MAX_TOKEN_AMOUNT, toBaseUnits } from "./spl.ts";

/**
 * Solana Pay transfer requests (https://docs.solanapay.com/spec, "Transfer Request"): the
 * `solana:` URL a customer's wallet turns into a payment. Amounts travel in the URL as decimal
 * "user" units (the token's `uiAmountString`, so 5 USDC is `5`, never `5000000`); everything in
 * Tessera stays in base units, so this module is the one place that converts.
 */

const SOL_DECIMALS = 9;

export interface TransferRequest {
  /** The wallet (owner) that receives; for SPL tokens the wallet pays its associated account. */
  recipient: Address;
  /** Base units of `splToken` (or lamports without it); absent: the wallet asks the user. */
  amount?: bigint;
  /** The mint to pay in; absent means native SOL. */
  splToken?: Address;
  /** Keys the wallet adds, read-only and unsigned, to the transfer so the payment can be found. */
  reference: Address[];
  label?: string;
  message?: string;
  /** Goes on chain in an SPL Memo instruction right before the transfer. */
  memo?: string;
}

export interface TransferRequestInput {
  recipient: Address;
  /** Base units (1e-6 USDC for USDC): a bigint or a safe integer. */
  amount?: bigint | number;
  splToken?: Address;
  reference?: Address | readonly Address[];
  label?: string;
  message?: string;
  memo?: string;
  /** The mint's decimals; USDC's 6 by default when `splToken` is set, SOL's 9 otherwise. */
  decimals?: number;
}

/** A URL that is not a well-formed transfer request (the spec says wallets must reject it). */
export class TransferRequestError extends Error {
  override name = "TransferRequestError";
}

/**
 * A fresh `reference`: 32 random bytes in base58. The spec allows any 32 bytes (on or off the
 * curve, account or not); what matters is that no other payment will ever carry it.
 */
export function newReference(): Address {
  return getAddressDecoder().decode(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Builds the `solana:` URL for a transfer request. Query values are percent-encoded with
 * `encodeURIComponent` (a space is `%20`, which every URL parser reads back, unlike `+`).
 *
 * @example
 * transferRequestUrl({ recipient: treasury, amount: 5_000_000, splToken: USDC,
 *   reference: newReference(), label: "Tessera", memo: "tessera deposit dep_…" })
 * // "solana:<treasury>?amount=5&spl-token=<USDC>&reference=<ref>&label=Tessera&memo=tessera%20deposit%20dep_…"
 */
export function transferRequestUrl(input: TransferRequestInput): string {
  if (!isAddress(input.recipient)) throw new TransferRequestError("recipient is not an address");
  const decimals = input.decimals ?? (input.splToken ? USDC_DECIMALS : SOL_DECIMALS);
  const params: [string, string][] = [];
  if (input.amount !== undefined) {
    params.push(["amount", formatTokenAmount(toBaseUnits(input.amount), decimals)]);
  }
  if (input.splToken) params.push(["spl-token", input.splToken]);
  const references =
    input.reference === undefined
      ? []
      : typeof input.reference === "string"
        ? [input.reference]
        : input.reference;
  for (const reference of references) params.push(["reference", reference]);
  if (input.label !== undefined) params.push(["label", input.label]);
  if (input.message !== undefined) params.push(["message", input.message]);
  if (input.memo !== undefined) params.push(["memo", input.memo]);
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  return `solana:${input.recipient}${query ? `?${query}` : ""}`;
}

/**
 * Reads a transfer request back, as a wallet would, and rejects what the spec calls malformed:
 * a bad recipient or key, an amount with a missing leading 0, an exponent, or more decimals than
 * the token has, and repeated single-valued fields. `decimals` defaults as in `transferRequestUrl`.
 */
export function parseTransferRequestUrl(
  url: string,
  options: { decimals?: number } = {},
): TransferRequest {
  if (!url.startsWith("solana:")) throw new TransferRequestError("not a solana: URL");
  const body = url.slice("solana:".length);
  const q = body.indexOf("?");
  const recipient = decodeURIComponent(q === -1 ? body : body.slice(0, q));
  if (!isAddress(recipient)) throw new TransferRequestError("recipient is not an address");
  const params = new URLSearchParams(q === -1 ? "" : body.slice(q + 1));
  const single = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new TransferRequestError(`${name} appears more than once`);
    return values[0];
  };
  const splToken = single("spl-token");
  if (splToken !== undefined && !isAddress(splToken)) {
    throw new TransferRequestError("spl-token is not an address");
  }
  const reference = params.getAll("reference");
  for (const r of reference) {
    if (!isAddress(r)) throw new TransferRequestError("reference is not 32 bytes of base58");
  }
  const decimals = options.decimals ?? (splToken ? USDC_DECIMALS : SOL_DECIMALS);
  const amount = single("amount");
  const request: TransferRequest = { recipient, reference: reference as Address[] };
  if (amount !== undefined) request.amount = parseTokenAmount(amount, decimals);
  if (splToken !== undefined) request.splToken = splToken;
  const label = single("label");
  const message = single("message");
  const memo = single("memo");
  if (label !== undefined) request.label = label;
  if (message !== undefined) request.message = message;
  if (memo !== undefined) request.memo = memo;
  return request;
}

/** Base units as the decimal the spec wants: `formatTokenAmount(1_500_000n, 6) === "1.5"`. */
export function formatTokenAmount(units: bigint, decimals: number): string {
  const scale = 10n ** BigInt(decimals);
  const whole = units / scale;
  const frac = (units % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole.toString();
}

/** The inverse of `formatTokenAmount`, refusing what the spec forbids (".5", "1e3", "-1", excess decimals). */
export function parseTokenAmount(text: string, decimals: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new TransferRequestError(`amount is not a plain decimal number: ${text}`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) {
    throw new TransferRequestError(`amount has more than ${decimals} decimals: ${text}`);
  }
  const units = BigInt(m[1] ?? "0") * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0"));
  if (units > MAX_TOKEN_AMOUNT) throw new TransferRequestError(`amount exceeds a u64: ${text}`);
  return units;
}
