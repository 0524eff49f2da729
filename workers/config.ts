import { z } from "@hono/zod-openapi";
import type { Prices } from "../durable-objects/job/pricing.ts";
import type { Micros } from "../protocol/money.ts";
import type { Settings } from "./env.ts";
import { parseUpstreams } from "./gateway/upstream.ts";

/**
 * Configuration, parsed from the Worker's plain-text vars with defaults for local development.
 * A bad value fails the request loudly (500, logged) instead of being silently replaced.
 */
const flag = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const int = (min: number) => z.coerce.number().int().min(min);

const ConfigSchema = z.object({
  OPEN_SIGNUP: flag.default(true),
  TRIAL_CREDIT_MICROS: int(0).default(5_000_000),
  RATE_LIMIT_PER_MINUTE: int(1).default(600),
  MAX_JSON_BODY_BYTES: int(1024).default(1024 * 1024),
  ADMIN_TOKEN: z.string().min(16).optional(),
  STORAGE_QUOTA_BYTES: int(0).default(10 * 1024 ** 3),
  MAX_UPLOAD_REQUEST_BYTES: int(1024).default(100 * 1024 ** 2),
  GATEWAY_UPSTREAMS: z.string().default("").transform(parseUpstreams),
  UNIT_PRICE_RENDER_MICROS: int(0).default(100),
  UNIT_PRICE_INFERENCE_MICROS: int(0).default(50),
  UNIT_PRICE_WGSL_MICROS: int(0).default(20),
  PLATFORM_FEE_BPS: int(0).max(10_000).default(1000),
  LEASE_SECONDS: int(1).max(86_400).default(120),
  STORAGE_PRICE_GIB_MONTH_MICROS: int(0).default(4_000),
  EGRESS_PRICE_GIB_MICROS: int(0).default(10_000),
  STORAGE_GRACE_DAYS: int(0).max(365).default(7),
  LOW_BALANCE_MICROS: int(0).default(1_000_000),
  // Solana settlement (contracts/README.md). Without the first three, billing answers 503.
  SOLANA_RPC_URL: z.url({ protocol: /^https?$/ }).optional(),
  USDC_MINT: z
    .string()
    .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/)
    .optional(),
  TREASURY_KEY: z.string().min(1).optional(),
  PAYOUT_THRESHOLD_MICROS: int(1).default(10_000_000),
  DEPOSIT_TTL: int(60).default(3600),
  DEPOSIT_MIN_MICROS: int(1).default(1_000_000),
  SETTLEMENT_POLL_SECONDS: int(1).default(15),
  STAKE_SLASH_BPS: int(0).max(10_000).default(2500),
  STAKE_TIER_MICROS: int(1).default(100_000_000),
  UNSTAKE_COOLDOWN: int(0).default(7 * 86_400),
  // Pinning Service API (durable-objects/pin): replicas wanted, fetch deadline, origins policy.
  PIN_REPLICAS: int(1).max(20).default(3),
  PIN_FETCH_TIMEOUT_SECONDS: int(1).default(600),
  PIN_ALLOW_LOOPBACK_ORIGINS: flag.default(false),
  PIN_DELEGATES: z.string().default(""),
  KUBO_RPC_URL: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
  // Storage providers (issue 8): challenges, provider pay, where providers fetch from.
  CHALLENGE_INTERVAL_SECONDS: int(1).default(3600),
  CHALLENGE_DEADLINE_SECONDS: int(1).max(300).default(30),
  REPLICA_FETCH_SECONDS: int(1).default(3600),
  PROVIDER_PRICE_GIB_HOUR_MICROS: int(0).default(1),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  R2_STAGING_TTL_SECONDS: int(0).default(0),
});

/** Storage providers and proofs of storage (durable-objects/pin/replicas.ts). */
export interface StorageProviderSettings {
  /** How often each replica is challenged. */
  challengeIntervalMs: number;
  /** How long a provider has to answer a challenge. */
  challengeDeadlineMs: number;
  /** How long a newly assigned replica may answer `fetching` before that counts as a failure. */
  fetchTimeoutMs: number;
  /** USDC base units per GiB-hour a provider earns for proven periods. */
  providerPrice: Micros;
  /** The origin providers fetch assigned content from; null: each provider's own Tessera URL. */
  publicUrl: string | null;
  /** How long pinned content stays in R2 once all its replicas are proven; 0 keeps it. */
  stagingTtlMs: number;
}

/** The Pinning Service API and `Pin` objects (durable-objects/pin/pin.ts). */
export interface PinSettings {
  /** Replicas on storage providers each pin wants (fewer when fewer providers exist). */
  replicas: number;
  /** A pin whose content is not stored by then goes `failed`, counted from its creation. */
  fetchTimeoutMs: number;
  /** Dev only: lets pin origins point at loopback addresses (local test servers). */
  allowLoopbackOrigins: boolean;
  /** Multiaddrs returned as `delegates`; empty: one derived from the request's own origin. */
  delegates: string[];
  /** A Kubo RPC endpoint that pinned content is also imported into; null: off. */
  kuboRpcUrl: string | null;
}

/** Where the Treasury settles on Solana; `null` when the deployment has not configured it. */
export interface SolanaSettings {
  rpcUrl: string;
  /** The USDC mint (mainnet: EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v). */
  mint: string;
  /** The treasury keypair (a Worker secret): its wallet receives deposits and signs payouts. */
  treasuryKey: string;
}

export interface Config {
  openSignup: boolean;
  trialCredit: Micros;
  rateLimitPerMinute: number;
  maxJsonBodyBytes: number;
  adminToken: string | undefined;
  /** Bytes of stored blocks (and staged session parts) one account may hold. */
  storageQuotaBytes: number;
  /** Largest body of one upload request; larger files go through upload sessions. */
  maxUploadRequestBytes: number;
  /** Trustless gateways asked for blocks this node lacks; empty (off) by default. */
  gatewayUpstreams: string[];
  /** The price list jobs are quoted and held at (docs/kernels.md, "Pricing"). */
  prices: Prices;
  /** USDC base units per GiB-month stored and per GiB served (`GET /v1/prices`). */
  storagePrice: Micros;
  egressPrice: Micros;
  /** Days stored data is kept once the balance cannot pay for it, before it is released. */
  storageGraceDays: number;
  /** `GET /v1/account` warns (`billing.low_balance`) below this available balance. */
  lowBalance: Micros;
  /** How long a contributor has for one task before it is offered elsewhere. */
  leaseMs: number;
  /** Solana settlement; null (deposits and payouts answer `billing_not_configured`) by default. */
  solana: SolanaSettings | null;
  /** Earnings at or above this are paid out on Solana in the next batch. */
  payoutThreshold: Micros;
  /** How long a deposit (or stake) request waits for its payment. */
  depositTtlMs: number;
  /** The smallest deposit or stake a request may ask for. */
  depositMin: Micros;
  /** How often the Treasury's alarm looks for payments and pays batches while it has work. */
  settlementPollMs: number;
  /** Share of stake (basis points) a contributor caught cheating loses to insurance. */
  stakeSlashBps: number;
  /** Stake at or above this raises a contributor's trust tier by one step. */
  stakeTier: Micros;
  /** How long unstaked USDC waits (still slashable) before it is paid back. */
  unstakeCooldownMs: number;
  pins: PinSettings;
  storageProviders: StorageProviderSettings;
}

const cache = new WeakMap<object, Config>();

export function config(env: Settings): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const raw = ConfigSchema.parse(env);
  const parsed: Config = {
    openSignup: raw.OPEN_SIGNUP,
    trialCredit: raw.TRIAL_CREDIT_MICROS as Micros,
    rateLimitPerMinute: raw.RATE_LIMIT_PER_MINUTE,
    maxJsonBodyBytes: raw.MAX_JSON_BODY_BYTES,
    adminToken: raw.ADMIN_TOKEN,
    storageQuotaBytes: raw.STORAGE_QUOTA_BYTES,
    maxUploadRequestBytes: raw.MAX_UPLOAD_REQUEST_BYTES,
    gatewayUpstreams: raw.GATEWAY_UPSTREAMS,
    prices: {
      unit_price: {
        render: raw.UNIT_PRICE_RENDER_MICROS as Micros,
        inference: raw.UNIT_PRICE_INFERENCE_MICROS as Micros,
        wgsl: raw.UNIT_PRICE_WGSL_MICROS as Micros,
      },
      platform_fee_bps: raw.PLATFORM_FEE_BPS,
    },
    leaseMs: raw.LEASE_SECONDS * 1000,
    storagePrice: raw.STORAGE_PRICE_GIB_MONTH_MICROS as Micros,
    egressPrice: raw.EGRESS_PRICE_GIB_MICROS as Micros,
    storageGraceDays: raw.STORAGE_GRACE_DAYS,
    lowBalance: raw.LOW_BALANCE_MICROS as Micros,
    solana:
      raw.SOLANA_RPC_URL && raw.USDC_MINT && raw.TREASURY_KEY
        ? { rpcUrl: raw.SOLANA_RPC_URL, mint: raw.USDC_MINT, treasuryKey: raw.TREASURY_KEY }
        : null,
    payoutThreshold: raw.PAYOUT_THRESHOLD_MICROS as Micros,
    depositTtlMs: raw.DEPOSIT_TTL * 1000,
    depositMin: raw.DEPOSIT_MIN_MICROS as Micros,
    settlementPollMs: raw.SETTLEMENT_POLL_SECONDS * 1000,
    stakeSlashBps: raw.STAKE_SLASH_BPS,
    stakeTier: raw.STAKE_TIER_MICROS as Micros,
    unstakeCooldownMs: raw.UNSTAKE_COOLDOWN * 1000,
    pins: {
      replicas: raw.PIN_REPLICAS,
      fetchTimeoutMs: raw.PIN_FETCH_TIMEOUT_SECONDS * 1000,
      allowLoopbackOrigins: raw.PIN_ALLOW_LOOPBACK_ORIGINS,
      delegates: raw.PIN_DELEGATES.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      kuboRpcUrl: raw.KUBO_RPC_URL ? raw.KUBO_RPC_URL.replace(/\/$/, "") : null,
    },
    storageProviders: {
      challengeIntervalMs: raw.CHALLENGE_INTERVAL_SECONDS * 1000,
      challengeDeadlineMs: raw.CHALLENGE_DEADLINE_SECONDS * 1000,
      fetchTimeoutMs: raw.REPLICA_FETCH_SECONDS * 1000,
      providerPrice: raw.PROVIDER_PRICE_GIB_HOUR_MICROS as Micros,
      publicUrl: raw.PUBLIC_URL?.replace(/\/$/, "") ?? null,
      stagingTtlMs: raw.R2_STAGING_TTL_SECONDS * 1000,
    },
  };
  cache.set(env, parsed);
  return parsed;
}
