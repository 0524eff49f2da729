import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { renderTile } from "../../client/kernels/index.ts";
import { hex } from "../../protocol/digest.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import { blake3, init } from "../../wasm/index.ts";
import { ONE_SPHERE_SCENE } from "../fixtures/scenes.ts";
import { contributor } from "./contributors.ts";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

/**
 * What the marketplace does with results it must not believe: forged and stolen lease tokens,
 * outputs that do not match their digest, results after the lease ran out, and the same result
 * twice. Each gets a protocol error (or `duplicate`), and only the one right result is paid.
 */
const job = {
  kind: "render",
  width: 8,
  height: 8,
  samples_per_pixel: 2,
  max_bounces: 2,
  replication: 1,
  scene: ONE_SPHERE_SCENE,
};

type Frame = Record<string, unknown>;

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The honest output of a render task frame, and its digest. */
async function honest(task: Frame) {
  await init();
  const t = task.task as { tile: { x: number; y: number; width: number; height: number } } & {
    samples: { start: number; count: number };
  };
  const pixels = renderTile(RenderSpec.parse(job), {
    ...t.tile,
    sampleStart: t.samples.start,
    sampleCount: t.samples.count,
  });
  const bytes = new Uint8Array(pixels.buffer);
  return { output: b64(bytes), digest: hex(blake3(bytes)) };
}

const result = (task: Frame, fields: Record<string, unknown>) => ({
  type: "result",
  task_id: task.task_id,
  lease_token: task.lease_token,
  ...fields,
});

describe("leases and results", () => {
  it("refuses forged, stolen, mismatched and late results, and pays one right result once", async () => {
    const { apiKey } = await signup();
    const a = await contributor("native");
    const created = await api("/v1/jobs", jsonInit("POST", job, bearer(apiKey)));
    expect(created.status).toBe(202);
    const { id, quote } = (await created.json()) as {
      id: string;
      quote: { total: number; compute_cost: number };
    };

    // The job's spec comes once, before the connection's first task of that job.
    expect(await a.next()).toMatchObject({
      type: "job",
      job_id: id,
      spec: { kind: "render", width: 8 },
    });
    const task = await a.next();
    expect(task).toMatchObject({ type: "task", job_id: id, task_id: `${id}.0` });
    expect(task.job).toBeUndefined();
    const right = await honest(task);

    // A made-up token for a real task.
    a.send(result(task, { ...right, lease_token: "x".repeat(43) }));
    expect(await a.next()).toMatchObject({ type: "error", code: "unknown_lease", fatal: false });

    // Someone else's token, from another connection.
    const b = await contributor("native");
    b.send(result(task, right));
    expect(await b.next()).toMatchObject({
      type: "error",
      code: "unknown_lease",
      task_id: task.task_id,
    });

    // Output that is not what the digest says: refused and judged wrong.
    a.send(result(task, { output: right.output, digest: "0".repeat(64) }));
    expect(await a.next()).toMatchObject({
      type: "error",
      code: "bad_output",
      task_id: task.task_id,
    });
    expect(await a.next()).toMatchObject({ type: "verdict", status: "rejected", earned: 0 });

    // The task goes to B (A already answered it); B's lease runs out before it answers.
    expect(await b.next()).toMatchObject({ type: "job", job_id: id });
    const again = await b.next();
    expect(again).toMatchObject({ type: "task", task_id: task.task_id });
    expect(again.lease_token).not.toBe(task.lease_token);
    const stub = env.JOB.get(env.JOB.idFromName(id));
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE replicas SET deadline = 1 WHERE token = ?", again.lease_token);
    });
    b.send(result(again, right));
    expect(await b.next()).toMatchObject({ type: "error", code: "lease_expired" });

    // A third contributor gets it and answers right: accepted, paid the whole compute cost.
    const c = await contributor("native");
    await runDurableObjectAlarm(stub);
    expect(await c.next()).toMatchObject({ type: "job", job_id: id });
    const third = await c.next();
    expect(third).toMatchObject({ type: "task", task_id: task.task_id });
    c.send(result(third, right));
    expect(await c.next()).toEqual({ type: "ack", task_id: task.task_id, status: "received" });
    expect(await c.next()).toMatchObject({
      type: "verdict",
      status: "accepted",
      earned: quote.compute_cost,
    });
    // The same result again: acknowledged as a duplicate, not paid again.
    c.send(result(third, right));
    expect(await c.next()).toEqual({ type: "ack", task_id: task.task_id, status: "duplicate" });

    // The job completes at the quoted price (its alarm assembles the result); only C earned.
    let view = { status: "", settlement: { charged: 0 }, result_cid: "" };
    for (let i = 0; i < 100 && view.status !== "completed"; i++) {
      await runDurableObjectAlarm(stub);
      view = (await (
        await api(`/v1/jobs/${id}`, { headers: bearer(apiKey) })
      ).json()) as typeof view;
    }
    expect(view.status).toBe("completed");
    expect(view.settlement.charged).toBe(quote.total);
    const png = await api(`/ipfs/${view.result_cid}`);
    expect(png.status, await png.clone().text()).toBe(200);
    const record = async (address: string) =>
      (await (await api(`/v1/contributors/${address}`)).json()) as {
        record: { accepted: number; rejected: number };
        earnings: { available: number };
      };
    expect((await record(c.address)).earnings.available).toBe(quote.compute_cost);
    expect(await record(a.address)).toMatchObject({
      record: { accepted: 0, rejected: 1 },
      earnings: { available: 0 },
    });
    expect((await record(b.address)).earnings.available).toBe(0);
    for (const s of [a, b, c]) s.ws.close(1000, "done");
  });

  it("batches: several tasks in one frame, answered in one frame, each checked and paid on its own", async () => {
    const { apiKey } = await signup();
    const a = await contributor("native", 1, 4);
    const wgsl = {
      kind: "wgsl",
      replication: 1,
      source: [
        "@group(0) @binding(0) var<storage, read_write> out: array<u32>;",
        "@compute @workgroup_size(1)",
        "fn main(@builtin(global_invocation_id) id: vec3u) { out[0] = 0u; }",
      ].join("\n"),
      entry_point: "main",
      outputs: [{ binding: 0, size: 4 }],
      dispatches: Array.from({ length: 4 }, () => ({ workgroups: [1] })),
    };
    const created = await api("/v1/jobs", jsonInit("POST", wgsl, bearer(apiKey)));
    expect(created.status).toBe(202);
    const { id, quote } = (await created.json()) as {
      id: string;
      quote: { total: number; compute_cost: number };
    };

    // One slot of four tasks: the spec and all four leases come in one batch frame.
    const first = await a.next();
    expect(first.type).toBe("batch");
    const frames = first.frames as Frame[];
    expect(frames[0]).toMatchObject({ type: "job", job_id: id, spec: { kind: "wgsl" } });
    const tasks = frames.slice(1);
    expect(tasks.map((t) => t.type)).toEqual(["task", "task", "task", "task"]);
    expect(new Set(tasks.map((t) => t.task_id)).size).toBe(4);
    expect(new Set(tasks.map((t) => t.lease_token)).size).toBe(4);

    const zeros = new Uint8Array(4);
    const right = { output: b64(zeros), digest: hex(blake3(zeros)) };
    const [t0, t1, t2, t3] = tasks as [Frame, Frame, Frame, Frame];
    // Three right answers and a forged token, in one frame: the forged one is refused alone.
    a.send({
      type: "batch",
      frames: [
        result(t0, right),
        result(t1, right),
        result(t2, { ...right, lease_token: "x".repeat(43) }),
        result(t3, right),
      ],
    });
    expect(await a.next()).toMatchObject({
      type: "error",
      code: "unknown_lease",
      task_id: t2.task_id,
      fatal: false,
    });
    const answer = await a.next();
    expect(answer.type).toBe("batch");
    const replies = answer.frames as Frame[];
    const acks = replies.filter((f) => f.type === "ack");
    const verdicts = replies.filter((f) => f.type === "verdict");
    expect(acks.map((f) => f.task_id).sort()).toEqual([t0.task_id, t1.task_id, t3.task_id].sort());
    expect(acks.every((f) => f.status === "received")).toBe(true);
    expect(verdicts.map((f) => f.task_id).sort()).toEqual(
      [t0.task_id, t1.task_id, t3.task_id].sort(),
    );
    expect(verdicts.every((f) => f.status === "accepted" && (f.earned as number) > 0)).toBe(true);

    // A batch frame that is not valid as a whole is refused as malformed; nothing is taken.
    a.send({ type: "batch", frames: [] });
    expect(await a.next()).toMatchObject({ type: "error", code: "malformed_frame" });

    // The last task answered alone (a batch speaker may still send single frames).
    a.send(result(t2, right));
    const last = await a.next();
    expect(last.type).toBe("batch");
    expect(last.frames).toEqual([
      { type: "ack", task_id: t2.task_id, status: "received" },
      expect.objectContaining({ type: "verdict", task_id: t2.task_id, status: "accepted" }),
    ]);

    // Every task was paid on its own: the job costs its quote, and A earned all of it.
    const stub = env.JOB.get(env.JOB.idFromName(id));
    let view = { status: "", settlement: { charged: 0 } };
    for (let i = 0; i < 100 && view.status !== "completed"; i++) {
      await runDurableObjectAlarm(stub);
      view = (await (
        await api(`/v1/jobs/${id}`, { headers: bearer(apiKey) })
      ).json()) as typeof view;
    }
    expect(view.status).toBe("completed");
    expect(view.settlement.charged).toBe(quote.total);
    const record = (await (await api(`/v1/contributors/${a.address}`)).json()) as {
      record: { accepted: number };
      earnings: { available: number };
    };
    expect(record.record.accepted).toBe(4);
    expect(record.earnings.available).toBe(quote.compute_cost);
    a.ws.close(1000, "done");
  });

  it("refuses bad job specs before any hold: nothing is created or charged", async () => {
    const { apiKey } = await signup();
    const before = await (await api("/v1/account", { headers: bearer(apiKey) })).json();
    const bad: [unknown, number, string][] = [
      [{ ...job, width: 100_000 }, 400, "validation_failed"],
      [
        {
          ...job,
          scene: { ...job.scene, spheres: [{ center: [0, 0, -3], radius: 1, material: 9 }] },
        },
        400,
        "validation_failed",
      ],
      [
        {
          kind: "wgsl",
          source: "fn nothing() {}",
          entry_point: "main",
          outputs: [{ binding: 0, size: 4 }],
          dispatches: [{ workgroups: [1] }],
        },
        400,
        "validation_failed",
      ],
      [
        {
          kind: "wgsl",
          source:
            "@group(0) @binding(0) var<storage, read_write> out: array<u32>;\n@compute @workgroup_size(1) fn main() { out[0] = 1u; }",
          entry_point: "main",
          outputs: [{ binding: 0, size: 2 * 1024 * 1024 }],
          dispatches: [{ workgroups: [1] }],
        },
        400,
        "job_too_large",
      ],
    ];
    for (const [spec, status, code] of bad) {
      await expectProblem(
        await api("/v1/jobs", jsonInit("POST", spec, bearer(apiKey))),
        status,
        code,
      );
    }
    const after = await (await api("/v1/account", { headers: bearer(apiKey) })).json();
    expect(after).toEqual(before);
    const list = (await (await api("/v1/jobs", { headers: bearer(apiKey) })).json()) as {
      data: unknown[];
    };
    expect(list.data).toEqual([]);
  });
});
