/**
 * TEST FIXTURE, not production code: a Solana JSON-RPC front over LiteSVM (through `TestChain`),
 * served by a real `node:http` server on 127.0.0.1 so code under test talks to it with real
 * `fetch` through kit's HTTP transport, exactly as it would talk to an RPC provider.
 *
 * It implements only the methods settlement calls (`TreasuryRpcApi` in `contracts/rpc.ts`), with
 * the response shapes of `@solana/kit`'s RPC types (the handlers are typed against them) and a
 * validator's error codes where the code under test can meet them:
 * -32002 preflight failure, -32015 version not supported, -32601 unknown method, -32602 bad
 * params. Anything else it is asked is refused with -32601, so a call nobody set up fails loudly.
 *
 * Faults for crash tests: `failNext(method)` answers that method's next call with HTTP 503 (the
 * request may or may not have done its work, as with a real dropped connection: a failed
 * `sendTransaction` is still submitted first), `crashAfter(method)` lets that method's next call
 * do its work and then answers it and every later call with 503 until `heal()` (the caller's
 * process dying right after the call: nothing it would do next happens), and
 * `chain.dropIncoming` loses transactions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type Address,
  type Base64EncodedWireTransaction,
  type Commitment,
  type GetBlockHeightApi,
  type GetLatestBlockhashApi,
  type GetSignatureStatusesApi,
  type GetSignaturesForAddressApi,
  type GetTokenAccountBalanceApi,
  type GetTransactionApiResponseBase64,
  getBase64Encoder,
  getTransactionDecoder,
  lamports,
  type Signature,
} from "@solana/kit";
import { type LandedTransaction, PreflightError, type TestChain } from "./chain.ts";

export class JsonRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

type Params = readonly unknown[];
type Config = Record<string, unknown> | undefined;

export interface RpcFront {
  url: string;
  chain: TestChain;
  /** Every method called, in order. */
  calls: string[];
  /** Answers the next `times` calls of `method` with HTTP 503, after doing `sendTransaction`'s work. */
  failNext(method: string, times?: number): void;
  /** After the next call of `method` has done its work, every answer is 503 until `heal()`. */
  crashAfter(method: string): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startRpcFront(chain: TestChain): Promise<RpcFront> {
  const calls: string[] = [];
  const failures = new Map<string, number>();
  let crashArmed: string | undefined;
  let crashed = false;
  const methods = handlers(chain);

  const server: Server = createServer(async (req, res) => {
    let id: unknown = null;
    try {
      if (req.method !== "POST") {
        res.writeHead(405).end();
        return;
      }
      const request = JSON.parse(await readBody(req)) as {
        id?: unknown;
        method?: unknown;
        params?: unknown;
      };
      id = request.id ?? null;
      const method = String(request.method);
      calls.push(method);
      const handler = methods[method];
      if (!handler) throw new JsonRpcError(-32601, "Method not found");
      const params = Array.isArray(request.params) ? request.params : [];
      if (crashed) {
        res.writeHead(503).end();
        return;
      }
      if (crashArmed === method) {
        crashArmed = undefined;
        crashed = true;
        try {
          handler(params);
        } catch {}
        res.writeHead(503).end();
        return;
      }
      const injected = failures.get(method) ?? 0;
      if (injected > 0) {
        failures.set(method, injected - 1);
        // A connection lost mid-request: a send still reaches the cluster, the answer never returns.
        if (method === "sendTransaction") {
          try {
            handler(params);
          } catch {}
        }
        res.writeHead(503).end();
        return;
      }
      const result = handler(params);
      send(res, { jsonrpc: "2.0", id, result });
    } catch (e) {
      const error =
        e instanceof JsonRpcError
          ? { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) }
          : { code: -32603, message: `fixture: ${e instanceof Error ? e.message : String(e)}` };
      send(res, { jsonrpc: "2.0", id, error });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    chain,
    calls,
    failNext(method, times = 1) {
      failures.set(method, (failures.get(method) ?? 0) + times);
    },
    crashAfter(method) {
      crashArmed = method;
    },
    heal() {
      crashArmed = undefined;
      crashed = false;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function handlers(chain: TestChain): Record<string, (params: Params) => unknown> {
  const context = () => ({ slot: chain.slot });
  const commitmentOf = (config: Config): Commitment =>
    (config?.commitment as Commitment | undefined) ?? "finalized";
  const visible = (tx: LandedTransaction, commitment: Commitment) =>
    commitment !== "finalized" || chain.commitmentOf(tx) === "finalized";

  return {
    getLatestBlockhash: (): ReturnType<GetLatestBlockhashApi["getLatestBlockhash"]> => ({
      context: context(),
      value: chain.latestBlockhash(),
    }),

    getBlockHeight: ([config]): ReturnType<GetBlockHeightApi["getBlockHeight"]> =>
      chain.blockHeight(commitmentOf(config as Config) === "finalized" ? "finalized" : "confirmed"),

    sendTransaction: ([wire, config]) => {
      const c = config as Config;
      if (c?.encoding !== "base64") {
        throw new JsonRpcError(-32602, "fixture: only base64-encoded transactions are accepted");
      }
      const bytes = getBase64Encoder().encode(wire as Base64EncodedWireTransaction);
      const tx = getTransactionDecoder().decode(bytes);
      try {
        return chain.submit(tx, { skipPreflight: c.skipPreflight === true });
      } catch (e) {
        if (!(e instanceof PreflightError)) throw e;
        throw new JsonRpcError(-32002, e.message, {
          err: e.err,
          logs: e.logs,
          accounts: null,
          unitsConsumed: 0,
        });
      }
    },

    getSignatureStatuses: ([signatures, config]): ReturnType<
      GetSignatureStatusesApi["getSignatureStatuses"]
    > => {
      const list = signatures as Signature[];
      if (list.length > 256) throw new JsonRpcError(-32602, "Too many inputs provided; max 256");
      const searchHistory = (config as Config)?.searchTransactionHistory === true;
      return {
        context: context(),
        value: list.map((signature) => {
          const tx = chain.transaction(signature);
          // Without searchTransactionHistory a node answers from its recent status cache only.
          if (!tx || (!searchHistory && tx.slot + 150n < chain.slot)) return null;
          const finalized = chain.commitmentOf(tx) === "finalized";
          return {
            slot: tx.slot,
            confirmations: finalized ? null : chain.slot - tx.slot,
            err: tx.err,
            confirmationStatus: finalized ? "finalized" : "confirmed",
            status: tx.err === null ? { Ok: null } : { Err: tx.err },
          };
        }),
      };
    },

    getSignaturesForAddress: ([address, config]): ReturnType<
      GetSignaturesForAddressApi["getSignaturesForAddress"]
    > => {
      const c = config as Config;
      const commitment = commitmentOf(c);
      if (commitment === "processed") {
        throw new JsonRpcError(-32602, "Method does not support commitment below `confirmed`");
      }
      const limit = Number(c?.limit ?? 1000);
      if (limit < 1 || limit > 1000) throw new JsonRpcError(-32602, "Invalid limit; max 1000");
      let newestFirst = chain
        .history()
        .filter((tx) => tx.accountKeys.includes(address as Address) && visible(tx, commitment))
        .reverse();
      const before = c?.before as Signature | undefined;
      const until = c?.until as Signature | undefined;
      if (before)
        newestFirst = newestFirst.slice(newestFirst.findIndex((t) => t.signature === before) + 1);
      if (until) {
        const stop = newestFirst.findIndex((t) => t.signature === until);
        if (stop !== -1) newestFirst = newestFirst.slice(0, stop);
      }
      return newestFirst.slice(0, limit).map((tx) => ({
        signature: tx.signature,
        slot: tx.slot,
        err: tx.err,
        memo: tx.memo,
        blockTime: tx.blockTime,
        confirmationStatus: chain.commitmentOf(tx),
      }));
    },

    getTransaction: ([signature, config]) => {
      const c = config as Config;
      if (c?.encoding !== "base64") {
        throw new JsonRpcError(-32602, "fixture: only base64 encoding is implemented");
      }
      const commitment = commitmentOf(c);
      if (commitment === "processed") {
        throw new JsonRpcError(-32602, "Method does not support commitment below `confirmed`");
      }
      const tx = chain.transaction(signature as Signature);
      if (!tx || !visible(tx, commitment)) return null;
      const maxVersion = c.maxSupportedTransactionVersion;
      if (tx.version === 0 && maxVersion === undefined) {
        throw new JsonRpcError(
          -32015,
          'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
        );
      }
      const response: GetTransactionApiResponseBase64<0> = {
        slot: tx.slot,
        blockTime: tx.blockTime,
        version: tx.version,
        transaction: [tx.wire, "base64"],
        meta: {
          err: tx.err,
          status: tx.err === null ? { Ok: null } : { Err: tx.err },
          fee: lamports(tx.fee),
          preBalances: tx.preBalances.map((b) => lamports(b)),
          postBalances: tx.postBalances.map((b) => lamports(b)),
          preTokenBalances: tx.preTokenBalances,
          postTokenBalances: tx.postTokenBalances,
          innerInstructions: [],
          logMessages: tx.logs,
          rewards: [],
          loadedAddresses: { writable: [], readonly: [] },
          computeUnitsConsumed: tx.computeUnits,
        },
      };
      if (maxVersion === undefined) {
        // Without maxSupportedTransactionVersion a node leaves out `version` and `loadedAddresses`.
        const { version: _v, ...legacy } = response;
        const { loadedAddresses: _l, ...meta } = response.meta ?? {};
        return { ...legacy, meta };
      }
      return response;
    },

    getTokenAccountBalance: ([address]): ReturnType<
      GetTokenAccountBalanceApi["getTokenAccountBalance"]
    > => {
      const amount = chain.tokenAmount(address as Address);
      if (!amount) throw new JsonRpcError(-32602, "Invalid param: not a Token account");
      return { context: context(), value: amount };
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

// u64 values (slots, lamports) go out as JSON numbers, never strings, as a validator sends them.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function send(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? rawJSON(v.toString()) : v));
  res.writeHead(200, { "content-type": "application/json" }).end(text);
}
