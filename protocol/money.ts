import { z } from "@hono/zod-openapi";

/**
 * An amount of USDC in base units (1 unit = 0.000001 USDC), always a non-negative safe integer.
 * Money never travels as a float: 5 USDC is `5_000_000`.
 */
export type Micros = number & { readonly __brand: "Micros" };

export const USDC_DECIMALS = 6;

/** Parses an untrusted number into `Micros`, rejecting fractions, negatives and unsafe integers. */
export const MicrosSchema = z
  .number()
  .int()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER)
  .transform((n) => n as Micros)
  .openapi({ description: "USDC base units (1e-6 USDC), an integer", example: 5_000_000 });

export function isMicros(n: unknown): n is Micros {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** `micros(5_000_000)`: asserts at a trusted boundary (config, tests) that a literal is money. */
export function micros(n: number): Micros {
  if (!isMicros(n)) throw new RangeError(`not an amount of USDC base units: ${n}`);
  return n;
}

/** Formats base units as a decimal USDC string for people: `formatUsdc(1_500_000) === "1.5"`. */
export function formatUsdc(amount: Micros): string {
  const whole = Math.floor(amount / 10 ** USDC_DECIMALS);
  const frac = String(amount % 10 ** USDC_DECIMALS)
    .padStart(USDC_DECIMALS, "0")
    .replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : String(whole);
}
