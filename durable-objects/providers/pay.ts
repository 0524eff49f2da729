const GIB = 1024n ** 3n;
const HOUR_MS = 3_600_000n;

/**
 * What a provider earns for holding `size` bytes, proven, for `ms` milliseconds at `price` base
 * units per GiB-hour: whole base units, exact (BigInt), with the fraction carried as `remainder`
 * (a decimal string, the numerator over GiB × hour) into the next period, so the periods of a
 * replica add up to the exact price of their total time rounded down once.
 */
export function periodPay(
  size: number,
  ms: number,
  price: number,
  carried = "0",
): { amount: number; remainder: string } {
  const numerator = BigInt(size) * BigInt(Math.max(0, ms)) * BigInt(price) + BigInt(carried || "0");
  const denominator = GIB * HOUR_MS;
  return {
    amount: Number(numerator / denominator),
    remainder: (numerator % denominator).toString(),
  };
}
