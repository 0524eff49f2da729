import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, balance, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

const scene = {
  camera: { position: [0, 0, 0], look_at: [0, 0, -1] },
  sky: { top: [1, 1, 1], bottom: [0, 0, 0] },
  materials: [{ type: "diffuse", albedo: [0.5, 0.5, 0.5] }],
  spheres: [{ center: [0, 0, -3], radius: 1, material: 0 }],
};
const render = { kind: "render", width: 128, height: 128, samples_per_pixel: 16, scene };

type Job = {
  id: string;
  status: string;
  tasks: { total: number; done: number };
  quote: { total: number };
};

describe("jobs: create with escrow, read, list, cancel", () => {
  it("holds the quoted price and queues the job with its planned tasks", async () => {
    const { apiKey } = await signup();
    const res = await api("/v1/jobs", jsonInit("POST", render, bearer(apiKey)));
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    expect(job.id).toMatch(/^job_[a-z2-7]{20}$/);
    expect(job.status).toBe("queued");
    // 128×128 in 64×64 tiles, 16 samples in one block: 4 tasks.
    expect(job.tasks).toEqual({ total: 4, done: 0 });
    expect(await balance(apiKey)).toEqual({
      available: 5_000_000 - job.quote.total,
      held: job.quote.total,
    });

    const again = await api(`/v1/jobs/${job.id}`, { headers: bearer(apiKey) });
    expect(((await again.json()) as Job).status).toBe("queued");
    const list = await api("/v1/jobs", { headers: bearer(apiKey) });
    expect(((await list.json()) as { data: Job[] }).data.map((j) => j.id)).toEqual([job.id]);
  });

  it("refuses a job the balance cannot hold with 402, creating and charging nothing", async () => {
    const { apiKey } = await signup();
    const huge = { ...render, width: 2048, height: 2048, samples_per_pixel: 512 }; // ~44 USDC
    const res = await api("/v1/jobs", jsonInit("POST", huge, bearer(apiKey)));
    await expectProblem(res, 402, "insufficient_funds");
    expect(await balance(apiKey)).toEqual({ available: 5_000_000, held: 0 });
    const list = await api("/v1/jobs", { headers: bearer(apiKey) });
    expect(((await list.json()) as { data: Job[] }).data).toEqual([]);
  });

  it("never holds twice for a retried create with the same Idempotency-Key", async () => {
    const { apiKey } = await signup();
    const key = crypto.randomUUID();
    const a = (await (
      await api("/v1/jobs", jsonInit("POST", render, bearer(apiKey, { "idempotency-key": key })))
    ).json()) as Job;
    const b = await api(
      "/v1/jobs",
      jsonInit("POST", render, bearer(apiKey, { "idempotency-key": key })),
    );
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(((await b.json()) as Job).id).toBe(a.id);
    expect((await balance(apiKey)).held).toBe(a.quote.total);
  });

  it("releases the whole hold on cancel, once, however often cancel is called", async () => {
    const { apiKey } = await signup();
    const job = (await (
      await api("/v1/jobs", jsonInit("POST", render, bearer(apiKey)))
    ).json()) as Job;
    for (let i = 0; i < 2; i++) {
      const res = await api(`/v1/jobs/${job.id}/cancel`, {
        method: "POST",
        headers: bearer(apiKey),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Job).status).toBe("cancelled");
    }
    expect(await balance(apiKey)).toEqual({ available: 5_000_000, held: 0 });
    // Nothing left in the outbox: an alarm has nothing to do.
    const stub = env.JOB.get(env.JOB.idFromName(job.id));
    await runDurableObjectAlarm(stub);
    expect(await balance(apiKey)).toEqual({ available: 5_000_000, held: 0 });
  });

  it("hides other accounts' jobs behind 404", async () => {
    const a = await signup();
    const b = await signup();
    const job = (await (
      await api("/v1/jobs", jsonInit("POST", render, bearer(a.apiKey)))
    ).json()) as Job;
    await expectProblem(
      await api(`/v1/jobs/${job.id}`, { headers: bearer(b.apiKey) }),
      404,
      "job_not_found",
    );
    await expectProblem(
      await api(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: bearer(b.apiKey) }),
      404,
      "job_not_found",
    );
    expect((await balance(a.apiKey)).held).toBe(job.quote.total);
    await expectProblem(
      await api("/v1/jobs/nope", { headers: bearer(a.apiKey) }),
      400,
      "validation_failed",
    );
  });
});
