import type { Account } from "../durable-objects/account/account.ts";
import type { Contributor } from "../durable-objects/contributor/contributor.ts";
import type { Dispatcher } from "../durable-objects/dispatcher/dispatcher.ts";
import type { Job } from "../durable-objects/job/job.ts";
import type { Pin } from "../durable-objects/pin/pin.ts";
import type { Providers } from "../durable-objects/providers/providers.ts";
import type { BlockBindings } from "../durable-objects/storage/blocks.ts";
import type { WriterBindings } from "../durable-objects/storage/writer.ts";
import type { Treasury } from "../durable-objects/treasury/treasury.ts";

/**
 * The Worker's bindings, composed from what each area declares. A route module that needs a new
 * binding adds an interface here and to `wrangler.toml`; nothing reads `env` untyped.
 */
export interface AccountBindings {
  ACCOUNT: DurableObjectNamespace<Account>;
}

export interface ContributorBindings {
  /** One `Dispatcher` per contributor pool, by pool name. */
  DISPATCHER: DurableObjectNamespace<Dispatcher>;
  /** One `Contributor` per contributor, by Solana address: record and earnings. */
  CONTRIBUTOR: DurableObjectNamespace<Contributor>;
}

export interface JobBindings {
  /** One `Job` per job, by job id. */
  JOB: DurableObjectNamespace<Job>;
  /** The platform's books and Solana wallet, one object named `treasury` (fees, deposits, payouts). */
  TREASURY: DurableObjectNamespace<Treasury>;
}

export interface ProviderBindings {
  /** The storage provider registry, one object named `providers` (durable-objects/providers). */
  PROVIDERS: DurableObjectNamespace<Providers>;
}

export interface PinBindings {
  /** One `Pin` per pin request of the Pinning Service API, by request id. */
  PIN: DurableObjectNamespace<Pin>;
}

export interface AssetBindings {
  /** The contributor page and other static files (`client/contributor/public`). */
  ASSETS: Fetcher;
}

/** Plain-text settings from `[vars]` and secrets; parsed by `config.ts`, never read raw. */
export interface Settings {
  OPEN_SIGNUP?: string;
  TRIAL_CREDIT_MICROS?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  MAX_JSON_BODY_BYTES?: string;
  /** Secret: lets an operator create accounts while open signup is off. */
  ADMIN_TOKEN?: string;
  STORAGE_QUOTA_BYTES?: string;
  MAX_UPLOAD_REQUEST_BYTES?: string;
  GATEWAY_UPSTREAMS?: string;
  UNIT_PRICE_RENDER_MICROS?: string;
  UNIT_PRICE_INFERENCE_MICROS?: string;
  UNIT_PRICE_WGSL_MICROS?: string;
  PLATFORM_FEE_BPS?: string;
  LEASE_SECONDS?: string;
  STORAGE_PRICE_GIB_MONTH_MICROS?: string;
  EGRESS_PRICE_GIB_MICROS?: string;
  STORAGE_GRACE_DAYS?: string;
  LOW_BALANCE_MICROS?: string;
  /** Solana settlement: a JSON-RPC endpoint, the USDC mint, and (secret) the treasury keypair. */
  SOLANA_RPC_URL?: string;
  USDC_MINT?: string;
  TREASURY_KEY?: string;
  PAYOUT_THRESHOLD_MICROS?: string;
  DEPOSIT_TTL?: string;
  DEPOSIT_MIN_MICROS?: string;
  SETTLEMENT_POLL_SECONDS?: string;
  STAKE_SLASH_BPS?: string;
  STAKE_TIER_MICROS?: string;
  UNSTAKE_COOLDOWN?: string;
  /** Pinning Service API: replicas per pin, fetch deadline, dev-only loopback origins, delegates, Kubo. */
  PIN_REPLICAS?: string;
  PIN_FETCH_TIMEOUT_SECONDS?: string;
  PIN_ALLOW_LOOPBACK_ORIGINS?: string;
  PIN_DELEGATES?: string;
  KUBO_RPC_URL?: string;
  /** Storage providers: challenge schedule, provider price, public origin, R2 staging TTL. */
  CHALLENGE_INTERVAL_SECONDS?: string;
  CHALLENGE_DEADLINE_SECONDS?: string;
  REPLICA_FETCH_SECONDS?: string;
  PROVIDER_PRICE_GIB_HOUR_MICROS?: string;
  PUBLIC_URL?: string;
  R2_STAGING_TTL_SECONDS?: string;
}

export type Env = AccountBindings &
  ContributorBindings &
  JobBindings &
  PinBindings &
  ProviderBindings &
  AssetBindings &
  BlockBindings &
  WriterBindings &
  Settings;
