import {
  createSolanaRpc,
  type GetBlockHeightApi,
  type GetLatestBlockhashApi,
  type GetSignatureStatusesApi,
  type GetSignaturesForAddressApi,
  type GetTokenAccountBalanceApi,
  type GetTransactionApi,
  type Rpc,
  type SendTransactionApi,
} from "@solana/kit";

/**
 * The JSON-RPC methods settlement uses, and nothing else. Naming them keeps the surface honest:
 * the test RPC front (`contracts/testing/rpc-front.ts`) implements exactly these, and an RPC
 * provider's plan only has to allow these.
 *
 * - `getSignaturesForAddress`: deposits by their Solana Pay `reference`; payouts by memo.
 * - `getTransaction` (base64, `maxSupportedTransactionVersion: 0`): the transaction and its
 *   token balances, decoded and checked here rather than trusting the node's `jsonParsed`.
 * - `getSignatureStatuses`: whether a payout attempt landed, and how final it is.
 * - `getLatestBlockhash`, `getBlockHeight`: a payout attempt's lifetime, and whether it is over.
 * - `sendTransaction`: payouts.
 * - `getTokenAccountBalance`: the treasury's on-chain balance, for the ledger proof.
 */
export type TreasuryRpcApi = GetSignaturesForAddressApi &
  GetTransactionApi &
  GetSignatureStatusesApi &
  GetLatestBlockhashApi &
  GetBlockHeightApi &
  SendTransactionApi &
  GetTokenAccountBalanceApi;

export type TreasuryRpc = Rpc<TreasuryRpcApi>;

/**
 * A client for a Solana JSON-RPC endpoint over `fetch` (kit's HTTP transport), so it runs as well
 * in a Worker or Durable Object as in Node. Provider API keys that go in a header (rather than the
 * URL) go in `config.headers`.
 *
 * @example
 * const rpc = createTreasuryRpc(env.SOLANA_RPC_URL);
 * const { value } = await rpc.getLatestBlockhash({ commitment: "confirmed" }).send();
 */
export function createTreasuryRpc(url: string, config?: TreasuryRpcConfig): TreasuryRpc {
  return createSolanaRpc(url, config);
}

/** kit's transport options: `headers` (forbidden and reserved ones are refused by kit). */
export type TreasuryRpcConfig = NonNullable<Parameters<typeof createSolanaRpc>[1]>;
