import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authMessage } from "../../protocol/contributor.ts";
import { connect, keypair } from "./contributors.ts";
import { api, expectProblem } from "./helpers.ts";

const capabilities = {
  features: ["shader-f16"],
  limits: { maxBufferSize: 268435456 },
  adapter: "test",
};

describe("contributor handshake over a real WebSocket", () => {
  it("challenges, accepts a signature by the claimed key, and registers the contributor", async () => {
    const c = await connect("native");
    const challenge = await c.next();
    expect(challenge).toMatchObject({ type: "challenge", version: 1, pool: "native" });
    const me = await keypair();
    const signature = await me.sign(authMessage(challenge.nonce as string, "native"));
    c.send({ type: "auth", version: 1, address: me.address, signature, capabilities });
    // A key never seen before starts as a `new` contributor.
    expect(await c.next()).toEqual({
      type: "welcome",
      address: me.address,
      pool: "native",
      trust: "new",
    });
    c.send({ type: "ready", slots: 2 });
    // The pool lists the contributor with its capabilities and free slots.
    const dispatcher = env.DISPATCHER.get(env.DISPATCHER.idFromName("native"));
    let listed = await dispatcher.contributors();
    for (let i = 0; i < 50 && !listed.some((x) => x.slots === 2); i++)
      listed = await dispatcher.contributors();
    expect(listed).toContainEqual({
      address: me.address,
      pool: "native",
      slots: 2,
      capabilities: {
        features: ["shader-f16"],
        limits: { maxBufferSize: 268435456 },
        adapter: "test",
      },
    });
    c.ws.close(1000, "done");
  });

  it("refuses a signature over another nonce and closes the socket", async () => {
    const c = await connect();
    await c.next();
    const me = await keypair();
    const signature = await me.sign(authMessage("some-other-nonce", "browser"));
    c.send({ type: "auth", version: 1, address: me.address, signature, capabilities });
    expect(await c.next()).toMatchObject({ type: "error", code: "bad_signature", fatal: true });
    expect((await c.whenClosed()).code).toBe(1008);
  });

  it("refuses a valid signature presented for someone else's address", async () => {
    const c = await connect();
    const challenge = await c.next();
    const me = await keypair();
    const victim = await keypair();
    const signature = await me.sign(authMessage(challenge.nonce as string, "browser"));
    c.send({ type: "auth", version: 1, address: victim.address, signature, capabilities });
    expect(await c.next()).toMatchObject({ type: "error", code: "bad_signature" });
  });

  it("answers frames out of protocol order with a fatal error", async () => {
    const c = await connect();
    await c.next();
    c.send({ type: "ready", slots: 1 });
    expect(await c.next()).toMatchObject({ type: "error", code: "out_of_order", fatal: true });
    expect((await c.whenClosed()).code).toBe(1008);
  });

  it("answers malformed frames without dropping the connection", async () => {
    const c = await connect();
    const challenge = await c.next();
    c.ws.send("not json");
    expect(await c.next()).toMatchObject({ type: "error", code: "malformed_frame", fatal: false });
    c.send({ type: "auth", version: 1, address: "0OIl", signature: "x", capabilities });
    expect(await c.next()).toMatchObject({ type: "error", code: "malformed_frame" });
    // Still usable: a correct auth goes through.
    const me = await keypair();
    const signature = await me.sign(authMessage(challenge.nonce as string, "browser"));
    c.send({ type: "auth", version: 1, address: me.address, signature, capabilities });
    expect(await c.next()).toMatchObject({ type: "welcome" });
    // A result for a lease that does not exist is refused, not paid.
    c.send({
      type: "result",
      task_id: "job_aaaaaaaaaaaaaaaaaaaa.0",
      lease_token: "A".repeat(43),
      output: "AAAA",
      digest: "0".repeat(64),
    });
    expect(await c.next()).toMatchObject({
      type: "error",
      code: "unknown_lease",
      fatal: false,
      task_id: "job_aaaaaaaaaaaaaaaaaaaa.0",
    });
    c.ws.close(1000, "done");
  });

  it("closes a socket that does not authenticate within the handshake timeout", async () => {
    const c = await connect("native");
    await c.next();
    const dispatcher = env.DISPATCHER.get(env.DISPATCHER.idFromName("native"));
    // Age the pending handshakes instead of waiting ten seconds.
    await runInDurableObject(dispatcher, (_instance, state) => {
      for (const ws of state.getWebSockets()) {
        const at = ws.deserializeAttachment() as { state: string; connectedAt: number };
        if (at.state !== "ready")
          ws.serializeAttachment({ ...at, connectedAt: at.connectedAt - 60_000 });
      }
    });
    expect(await runDurableObjectAlarm(dispatcher)).toBe(true);
    expect(await c.next()).toMatchObject({ type: "error", code: "out_of_order", fatal: true });
    expect((await c.whenClosed()).code).toBe(1008);
  });

  it("answers a plain HTTP request with 426 and an unknown pool with 400", async () => {
    await expectProblem(await api("/v1/contribute"), 426, "upgrade_required");
    await expectProblem(
      await api("/v1/contribute?pool=moon", { headers: { upgrade: "websocket" } }),
      400,
      "validation_failed",
    );
  });
});
