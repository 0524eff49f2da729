import { DurableObject } from "cloudflare:workers";
import {
  type Capabilities,
  ClientFrame,
  POOLS,
  type Pool,
  PROTOCOL_VERSION,
  type ProtocolErrorCode,
  type ServerFrame,
} from "../../protocol/contributor.ts";
import { newNonce, verifyAuth } from "./handshake.ts";

/**
 * One contributor pool (`browser`, `native`): the WebSockets of its contributors.
 *
 * Sockets are hibernatable (`ctx.acceptWebSocket`): an idle pool costs nothing, and each socket's
 * state lives in its attachment, so it survives the object being evicted between frames. This is
 * the handshake and registry half of the dispatcher; task leases arrive with the `Job` object.
 */
type Attachment =
  | { state: "challenged" | "verifying"; pool: Pool; nonce: string; connectedAt: number }
  | {
      state: "ready";
      pool: Pool;
      address: string;
      capabilities: Capabilities;
      slots: number;
      connectedAt: number;
    };

export interface ContributorView {
  address: string;
  pool: Pool;
  slots: number;
  capabilities: Capabilities;
}

/** Close codes (RFC 6455 §7.4): 1008 policy violation for a failed or out-of-order handshake. */
const POLICY_VIOLATION = 1008;
/** A socket that has not authenticated by then is closed, so idle handshakes cannot pile up. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Sockets one pool object holds; past it new connections are refused (shard the pool). */
export const MAX_SOCKETS = 20_000;

export class Dispatcher extends DurableObject {
  /** Upgrades `GET /v1/contribute?pool=…` (forwarded by the Worker) to a contributor socket. */
  override async fetch(request: Request): Promise<Response> {
    const pool = new URL(request.url).searchParams.get("pool") ?? "browser";
    if (!POOLS.includes(pool as Pool)) return new Response("unknown pool", { status: 400 });
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS) {
      return new Response("pool is full", { status: 503, headers: { "retry-after": "30" } });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const nonce = newNonce();
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = {
      state: "challenged",
      pool: pool as Pool,
      nonce,
      connectedAt: Date.now(),
    };
    server.serializeAttachment(attachment);
    send(server, { type: "challenge", version: PROTOCOL_VERSION, pool: pool as Pool, nonce });
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + HANDSHAKE_TIMEOUT_MS);
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = parse(message);
    if (!frame)
      return fail(ws, "malformed_frame", "Frames are JSON text matching docs/protocol.md.", false);
    const at = ws.deserializeAttachment() as Attachment;

    if (frame.type === "auth") {
      if (at.state !== "challenged")
        return fail(ws, "out_of_order", "Already authenticated.", true);
      if (!(await verifyAuth(frame.address, frame.signature, at.nonce, at.pool))) {
        return fail(
          ws,
          "bad_signature",
          "The signature does not match this address and nonce.",
          true,
        );
      }
      const ready: Attachment = {
        state: "ready",
        pool: at.pool,
        address: frame.address,
        capabilities: frame.capabilities,
        slots: 0,
        connectedAt: at.connectedAt,
      };
      ws.serializeAttachment(ready);
      return send(ws, { type: "welcome", address: frame.address, pool: at.pool });
    }
    if (at.state !== "ready") {
      return fail(ws, "out_of_order", "Authenticate (auth) before anything else.", true);
    }
    if (frame.type === "ready") {
      ws.serializeAttachment({ ...at, slots: frame.slots });
      return;
    }
    // Results and failures need a lease, and leases come from jobs: none is open yet.
    return fail(ws, "unknown_lease", `No open lease for task ${frame.task_id}.`, false);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Leases held by this socket are released here once jobs hand out leases.
    // Echo only codes an endpoint may send (RFC 6455 §7.4): 1006 and 1005 are reserved.
    const valid =
      (code >= 1000 && code <= 1003) ||
      (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999);
    ws.close(valid ? code : 1000, "closing");
  }

  /** Closes sockets that did not authenticate in time; runs again while any handshake is open. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let waiting = false;
    for (const ws of this.ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment;
      if (at.state === "ready") continue;
      if (now - at.connectedAt >= HANDSHAKE_TIMEOUT_MS) {
        fail(ws, "out_of_order", "No authentication within the handshake timeout.", true);
      } else {
        waiting = true;
      }
    }
    if (waiting) await this.ctx.storage.setAlarm(now + HANDSHAKE_TIMEOUT_MS);
  }

  /** The authenticated contributors connected now. */
  contributors(): ContributorView[] {
    return this.ctx
      .getWebSockets()
      .map((ws) => ws.deserializeAttachment() as Attachment)
      .filter((a): a is Extract<Attachment, { state: "ready" }> => a.state === "ready")
      .map(({ address, pool, slots, capabilities }) => ({ address, pool, slots, capabilities }));
  }
}

function parse(message: string | ArrayBuffer): ClientFrame | null {
  if (typeof message !== "string") return null;
  try {
    const result = ClientFrame.safeParse(JSON.parse(message));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

function send(ws: WebSocket, frame: ServerFrame): void {
  ws.send(JSON.stringify(frame));
}

function fail(ws: WebSocket, code: ProtocolErrorCode, message: string, fatal: boolean): void {
  send(ws, { type: "error", code, message, fatal });
  if (fatal) ws.close(POLICY_VIOLATION, code);
}
