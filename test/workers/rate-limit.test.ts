import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, signup } from "./helpers.ts";

// The test pool sets RATE_LIMIT_PER_MINUTE=20 (vitest.config.ts).
const LIMIT = 20;

describe("rate limiting per API key", () => {
  it("counts down in RateLimit headers and answers 429 with Retry-After past the limit", async () => {
    const { apiKey } = await signup();
    const first = await api("/v1/account", { headers: bearer(apiKey) });
    expect(first.headers.get("ratelimit-policy")).toBe(`"per-key";q=${LIMIT};w=60`);
    expect(first.headers.get("ratelimit")).toMatch(new RegExp(`^"per-key";r=${LIMIT - 1};t=\\d+$`));

    for (let i = 1; i < LIMIT; i++) {
      expect((await api("/v1/account", { headers: bearer(apiKey) })).status).toBe(200);
    }
    const limited = await api("/v1/account", { headers: bearer(apiKey) });
    await expectProblem(limited, 429, "rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("ratelimit")).toMatch(/^"per-key";r=0;t=\d+$/);
  });

  it("limits each key separately", async () => {
    const a = await signup();
    const b = await signup();
    for (let i = 0; i < LIMIT; i++) await api("/v1/account", { headers: bearer(a.apiKey) });
    await expectProblem(
      await api("/v1/account", { headers: bearer(a.apiKey) }),
      429,
      "rate_limited",
    );
    expect((await api("/v1/account", { headers: bearer(b.apiKey) })).status).toBe(200);
  });
});
