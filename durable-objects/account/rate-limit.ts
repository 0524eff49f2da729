/**
 * A fixed-window request counter per API key, held in the Account object's memory.
 *
 * Each key's window starts at its first request, so a new key always gets a whole window. Memory
 * is the right home: the Account object is the single place every request of the account passes
 * through, and if the object is evicted the counters reset, which errs on the side of the caller.
 */
export interface RatePolicy {
  limit: number;
  windowSeconds: number;
}

export interface RateState {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
  windowSeconds: number;
  allowed: boolean;
}

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  take(subject: string, policy: RatePolicy): RateState {
    const now = this.now();
    const windowMs = policy.windowSeconds * 1000;
    let w = this.windows.get(subject);
    if (!w || now - w.start >= windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(subject, w);
    }
    const allowed = w.count < policy.limit;
    if (allowed) w.count++;
    return {
      limit: policy.limit,
      remaining: Math.max(0, policy.limit - w.count),
      resetSeconds: Math.max(0, Math.ceil((w.start + windowMs - now) / 1000)),
      windowSeconds: policy.windowSeconds,
      allowed,
    };
  }
}
