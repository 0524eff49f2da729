/**
 * The settlement suite's cluster: a LiteSVM chain behind the JSON-RPC front (contracts/testing),
 * which the Worker under test (in workerd) reaches over real HTTP as `SOLANA_RPC_URL`, plus a
 * small control server for the tests themselves (they run in workerd and cannot touch LiteSVM):
 * it plays the customers' and contributors' wallets (paying Solana Pay URLs, with tampering on
 * request), moves the cluster on, reads token balances and injects RPC faults.
 *
 * Runs in Node, once per run, from `vitest.config.ts` (project `settlement`); the Worker's
 * settlement configuration comes from here through `inject`.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AccountRole,
  type Address,
  appendTransactionMessageInstructions,
  createKeyPairSignerFromBytes,
  createTransactionMessage,
  type Instruction,
  type KeyPairSigner,
  lamports,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signBytes,
  signTransactionMessageWithSigners,
} from "@solana/kit";
import { getAddMemoInstruction } from "@solana-program/memo";
import { getTransferCheckedInstruction } from "@solana-program/token";
import type { TestProject } from "vitest/node";
import { parseTransferRequestUrl } from "../../contracts/solana-pay.ts";
import { associatedTokenAccount, SPL_MEMO_PROGRAM_ADDRESS } from "../../contracts/spl.ts";
import { TestChain } from "../../contracts/testing/chain.ts";
import { startRpcFront } from "../../contracts/testing/rpc-front.ts";
import {
  createMint,
  createTokenAccount,
  fundedSigner,
  mintTo,
  tokenBalance,
} from "../../contracts/testing/tokens.ts";

/** USDC the operator puts in the treasury up front, to pay contributors before deposits arrive. */
export const TREASURY_FLOAT = 1_000_000_000n;

declare module "vitest" {
  export interface ProvidedContext {
    settlement: Record<string, string>;
  }
}

/** A 64-byte ed25519 keypair (seed, public key) as `solana-keygen` writes it. */
function newKeypairBytes(): Uint8Array {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return Uint8Array.from([...seed, ...pub]);
}

export default async function setup(project: TestProject) {
  const chain = new TestChain();
  const front = await startRpcFront(chain);
  const authority = await fundedSigner(chain);
  const usdc = await createMint(chain, authority, 6);
  const fake = await createMint(chain, authority, 6);
  const treasuryBytes = newKeypairBytes();
  const treasury = await createKeyPairSignerFromBytes(treasuryBytes);
  chain.svm.airdrop(treasury.address, lamports(100_000_000_000n));
  await mintTo(chain, authority, usdc, treasury.address, TREASURY_FLOAT);
  await createTokenAccount(chain, treasury, treasury.address, fake);
  const wallets = new Map<string, KeyPairSigner>();

  const actions: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    /** A wallet with SOL, 1000 USDC and 1000 of the fake token. */
    wallet: async () => {
      const w = await fundedSigner(chain);
      await mintTo(chain, authority, usdc, w.address, 1_000_000_000n);
      await mintTo(chain, authority, fake, w.address, 1_000_000_000n);
      wallets.set(w.address, w);
      return { address: w.address };
    },
    /**
     * What a Solana Pay wallet does with a transfer request: memo, then `transferChecked` to the
     * recipient's token account with the references appended read-only. `amount`, `mint`
     * ("fake"), `recipient` and `extra_reference` pay something other than what was asked.
     */
    pay: async (body) => {
      const payer = wallets.get(String(body.payer));
      if (!payer) throw new Error(`no wallet ${body.payer}`);
      const request = parseTransferRequestUrl(String(body.url));
      const mint = body.mint === "fake" ? fake : (request.splToken as Address);
      const amount = body.amount === undefined ? request.amount : BigInt(Number(body.amount));
      if (amount === undefined) throw new Error("request without amount");
      const recipient = (body.recipient as Address | undefined) ?? request.recipient;
      if (body.recipient) await createTokenAccount(chain, payer, recipient, mint);
      const transfer = getTransferCheckedInstruction({
        source: await associatedTokenAccount(payer.address, mint),
        mint,
        destination: await associatedTokenAccount(recipient, mint),
        authority: payer,
        amount,
        decimals: 6,
      });
      const references = [
        ...request.reference,
        ...(body.extra_reference ? [body.extra_reference as Address] : []),
      ];
      const instructions: Instruction[] = [];
      if (request.memo !== undefined) {
        instructions.push(
          getAddMemoInstruction(
            { memo: request.memo },
            { programAddress: SPL_MEMO_PROGRAM_ADDRESS },
          ),
        );
      }
      instructions.push({
        ...transfer,
        accounts: [
          ...transfer.accounts,
          ...references.map((address) => ({ address, role: AccountRole.READONLY })),
        ],
      });
      const tx = await pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayerSigner(payer, m),
        (m) => setTransactionMessageLifetimeUsingBlockhash(chain.latestBlockhash(), m),
        (m) => appendTransactionMessageInstructions(instructions, m),
        (m) => signTransactionMessageWithSigners(m),
      );
      const signature = chain.submit(tx);
      if (chain.transaction(signature)?.err !== null) throw new Error("payment did not land");
      return { signature };
    },
    /** The wallet's ed25519 signature (base64) over `message` (base64): a contributor signing. */
    sign: async (body) => {
      const w = wallets.get(String(body.address));
      if (!w) throw new Error(`no wallet ${body.address}`);
      const signature = await signBytes(
        w.keyPair.privateKey,
        Uint8Array.from(Buffer.from(String(body.message), "base64")),
      );
      return { signature: Buffer.from(signature).toString("base64") };
    },
    balance: async (body) => ({
      amount: String(await tokenBalance(chain, body.owner as Address, usdc)),
    }),
    /** Slots between landing and `finalized` (0: final at once). */
    finality: async (body) => {
      chain.finalityLag = BigInt(Number(body.lag));
      return {};
    },
    advance: async (body) => {
      chain.advance(Number(body.blocks ?? 1));
      return {};
    },
    crash_after: async (body) => {
      front.crashAfter(String(body.method));
      return {};
    },
    heal: async () => {
      front.heal();
      return {};
    },
    /** How many transactions carry `address` (a payout batch sent once shows once). */
    transactions: async (body) => ({
      count: chain.history().filter((t) => t.accountKeys.includes(body.address as Address)).length,
    }),
  };

  const control = createServer(async (req, res) => {
    try {
      const name = (req.url ?? "/").slice(1);
      const action = actions[name];
      if (!action) throw new Error(`no action ${name}`);
      const body = JSON.parse((await read(req)) || "{}") as Record<string, unknown>;
      const out = await action(body);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
    } catch (e) {
      res.writeHead(500).end(e instanceof Error ? e.message : String(e));
    }
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));

  project.provide("settlement", {
    SOLANA_RPC_URL: front.url,
    USDC_MINT: usdc,
    TREASURY_KEY: JSON.stringify([...treasuryBytes]),
    TEST_CHAIN_URL: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    TEST_TREASURY: treasury.address,
    TEST_TREASURY_FLOAT: String(TREASURY_FLOAT),
  });

  return async () => {
    control.closeAllConnections();
    await new Promise<void>((resolve) => control.close(() => resolve()));
    await front.close();
  };
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
