import { timingSafeEqual } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import {
  Assignment,
  type AssignmentState,
  Challenge,
  type ChallengeAnswer,
  ProviderRegistered,
  registrationMessage,
} from "../../../protocol/providers.ts";
import { blake3, init, outboard, proveFromOutboard } from "../../../wasm/index.ts";
import type { Identity } from "../contributor-client.ts";
import { Disk, type PinRecord } from "./disk.ts";
import { fetchDag, matches } from "./fetch.ts";

/**
 * A storage provider (issue 8, `tessera node --storage DIR --capacity SIZE`): registers with the
 * platform, fetches what it is assigned from the gateway (every block verified), keeps blocks
 * and each stream's BLAKE3 outboard on disk, answers challenges with `proveFromOutboard`, and
 * serves its blocks as trustless raw blocks. The protocol is in docs/protocol.md.
 */
export interface ProviderOptions {
  /** The Tessera base URL (registration). */
  base: string;
  dir: string;
  /** Bytes this provider offers. */
  capacity: number;
  identity: Identity;
  /** Where to listen (default 127.0.0.1, an ephemeral port). */
  host?: string;
  port?: number;
  /** The URL the platform reaches this provider at (default http://host:port). */
  publicUrl?: string;
  log?: (line: string) => void;
  /** Register with `base` (default true); false serves challenges and blocks only (benchmarks). */
  register?: boolean;
  /** The platform's call token when not registering (benchmarks); otherwise the registry's. */
  token?: string;
}

export interface RunningProvider {
  address: string;
  url: string;
  disk: Disk;
  /** Registers now (the heartbeat does this on its own). */
  register(): Promise<void>;
  /** Resolves when every fetch started so far has ended. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = 1024;
const MAX_BODY = 64 * 1024;

export async function startProvider(options: ProviderOptions): Promise<RunningProvider> {
  await init();
  const log = options.log ?? ((line: string) => console.log(line));
  const disk = new Disk(options.dir);
  const fetching = new Map<string, Promise<void>>();
  const outboards = new Map<string, Uint8Array>();
  // The platform's calls carry the token its registry handed out (kept on disk for restarts).
  const tokenFile = join(options.dir, "platform-token");
  let token: string | undefined = options.token ?? readToken(tokenFile);
  const authorized = (req: IncomingMessage): boolean => {
    const given = Buffer.from(req.headers.authorization ?? "");
    const expected = Buffer.from(`Bearer ${token ?? ""}`);
    return (
      token !== undefined && given.length === expected.length && timingSafeEqual(given, expected)
    );
  };
  const stored = new Map<string, PinRecord>();

  const fetchPin = (record: PinRecord, gateway: string) => {
    const job = (async () => {
      try {
        const { blocks, segments } = await fetchDag(gateway, record.cid, disk);
        const stream = concat(segments.map((s) => disk.readBlockRange(s.cid, s.at, s.length)));
        const root = Buffer.from(blake3(stream)).toString("hex");
        if (stream.length !== record.size || root !== record.blake3) {
          throw new Error(
            `content is ${stream.length} bytes with BLAKE3 ${root}, assigned ${record.size} bytes with ${record.blake3}`,
          );
        }
        const ob = outboard(stream);
        disk.saveOutboard(record.cid, ob);
        disk.savePin({ ...record, status: "stored", segments, blocks });
        log(`stored ${record.cid} (${record.size} bytes, ${blocks.length} blocks)`);
      } catch (err) {
        disk.savePin({ ...record, status: "failed", detail: String(err) });
        log(`could not store ${record.cid}: ${err}`);
      } finally {
        fetching.delete(record.cid);
      }
    })();
    fetching.set(record.cid, job);
  };

  // A restart resumes what it was fetching (blocks already on disk are not fetched again).
  for (const record of disk.pins()) {
    if (record.status === "fetching" && record.gateway) fetchPin(record, record.gateway);
  }

  const answer = (challenge: Challenge): ChallengeAnswer => {
    // Stored records are kept parsed (a 1 GiB pin's lists its 1024 blocks), but only while the
    // file is still there: a wiped disk answers `missing`, never from memory.
    let record = stored.get(challenge.cid) ?? null;
    if (record && !disk.hasPin(challenge.cid)) {
      stored.delete(challenge.cid);
      outboards.delete(challenge.cid);
      record = null;
    }
    record ??= disk.pin(challenge.cid);
    if (record?.status === "stored") stored.set(record.cid, record);
    if (!record || record.status === "failed") {
      return { status: "missing", detail: record?.detail ?? "not assigned here" };
    }
    if (record.status === "fetching") return { status: "fetching" };
    try {
      let ob = outboards.get(record.cid);
      if (!ob) {
        const read = disk.outboard(record.cid);
        if (!read) return { status: "missing", detail: "outboard lost" };
        ob = read;
        outboards.set(record.cid, ob);
      }
      const proof = proveFromOutboard(ob, record.size, challenge.chunk);
      const chunk = readStream(disk, record, challenge.chunk * CHUNK, CHUNK);
      return {
        status: "proof",
        chunk: Buffer.from(chunk).toString("base64"),
        proof: Buffer.from(proof).toString("base64"),
      };
    } catch (err) {
      outboards.delete(record.cid);
      return { status: "missing", detail: String(err) };
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent)
        send(res, 500, { type: "about:blank", title: String(err) }, "application/problem+json");
      else res.destroy();
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://provider");
    const platformCall =
      (req.method === "POST" && ["/assignments", "/challenges"].includes(url.pathname)) ||
      req.method === "DELETE";
    if (platformCall && !authorized(req)) {
      req.resume();
      return problem(res, 401, "unauthenticated", "calls from the platform carry its token");
    }
    if (req.method === "POST" && url.pathname === "/assignments") {
      const parsed = Assignment.safeParse(await readJson(req));
      if (!parsed.success) return problem(res, 400, "validation_failed", parsed.error.message);
      const a = parsed.data;
      let cid: string;
      try {
        cid = CID.parse(a.cid).toString();
      } catch {
        return problem(res, 400, "invalid_cid", `${a.cid} is not a CID`);
      }
      const existing = disk.pin(cid);
      if (existing && existing.status !== "failed") {
        return send(res, 200, state(existing));
      }
      const record: PinRecord = {
        cid,
        blake3: a.blake3,
        size: a.size,
        status: "fetching",
        segments: [],
        blocks: [],
        gateway: a.gateway ?? options.base,
      };
      disk.savePin(record);
      fetchPin(record, record.gateway ?? options.base);
      log(`assigned ${cid} (${a.size} bytes)`);
      return send(res, 202, state(record));
    }
    if (req.method === "POST" && url.pathname === "/challenges") {
      const parsed = Challenge.safeParse(await readJson(req));
      if (!parsed.success) return problem(res, 400, "validation_failed", parsed.error.message);
      return send(res, 200, answer(parsed.data));
    }
    const drop = url.pathname.match(/^\/assignments\/([^/]+)$/);
    if (req.method === "DELETE" && drop?.[1]) {
      try {
        const cid = CID.parse(drop[1]).toString();
        await fetching.get(cid);
        disk.dropPin(cid);
        outboards.delete(cid);
        stored.delete(cid);
        log(`dropped ${cid}`);
        return send(res, 200, { cid, status: "dropped" });
      } catch {
        return problem(res, 400, "invalid_cid", `${drop[1]} is not a CID`);
      }
    }
    const block = url.pathname.match(/^\/ipfs\/([^/]+)$/);
    if ((req.method === "GET" || req.method === "HEAD") && block?.[1]) {
      let cid: CID;
      try {
        cid = CID.parse(block[1]);
      } catch {
        return problem(res, 400, "invalid_cid", `${block[1]} is not a CID`);
      }
      const format = url.searchParams.get("format");
      const accept = req.headers.accept ?? "";
      if (format !== "raw" && !accept.includes("application/vnd.ipld.raw")) {
        return problem(res, 406, "not_acceptable", "only raw blocks (?format=raw) are served");
      }
      const bytes = disk.getBlock(cid.toString());
      // A block damaged on disk is not served: the gateway would refuse it anyway.
      if (!bytes || !matches(cid, bytes)) return problem(res, 404, "block_not_found", `no ${cid}`);
      res.writeHead(200, {
        "content-type": "application/vnd.ipld.raw",
        "content-length": bytes.length,
        etag: `"${cid}.raw"`,
        "cache-control": "public, max-age=29030400, immutable",
      });
      res.end(req.method === "HEAD" ? undefined : bytes);
      return;
    }
    if (req.method === "GET" && url.pathname === "/healthz") {
      return send(res, 200, { ok: true, pins: disk.pins().length, used: disk.used() });
    }
    return problem(res, 404, "not_found", `no route for ${req.method} ${url.pathname}`);
  };

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const url = (options.publicUrl ?? `http://${host}:${port}`).replace(/\/$/, "");

  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;
  const register = async () => {
    const body = {
      address: options.identity.address,
      url,
      capacity: options.capacity,
      free: Math.max(0, options.capacity - disk.used()),
      at: Date.now(),
    };
    const signature = await options.identity.sign(
      new TextEncoder().encode(registrationMessage(body)),
    );
    const res = await fetch(`${options.base.replace(/\/$/, "")}/v1/providers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, signature }),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`registration refused (${res.status}): ${JSON.stringify(json)}`);
    const registered = ProviderRegistered.parse(json);
    const { heartbeat_seconds } = registered;
    if (registered.token !== token) {
      token = registered.token;
      writeFileSync(tokenFile, token, { mode: 0o600 });
    }
    if (!closed) {
      clearTimeout(heartbeat);
      heartbeat = setTimeout(
        () => {
          register().catch((err) => {
            log(`registration failed: ${err}; retrying`);
            heartbeat = setTimeout(() => void register().catch(() => {}), 5_000);
          });
        },
        (heartbeat_seconds * 1000) / 2,
      );
    }
  };
  if (options.register !== false) await register();
  log(
    `storage provider ${options.identity.address} at ${url}, ${options.capacity} bytes in ${options.dir}`,
  );

  return {
    address: options.identity.address,
    url,
    disk,
    register,
    async idle() {
      await Promise.all([...fetching.values()]);
    },
    async close() {
      closed = true;
      clearTimeout(heartbeat);
      await Promise.allSettled([...fetching.values()]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

/** `500G`, `2T`, `64M`, `1048576`: binary units (K = 1024); null when it is not a size. */
export function parseSize(text: string): number | null {
  const m = text.trim().match(/^(\d+)\s*([KMGT]?)i?B?$/i);
  if (!m) return null;
  const unit = (m[2] ?? "").toUpperCase();
  const power = unit ? "KMGT".indexOf(unit) + 1 : 0;
  const n = Number(m[1]) * 1024 ** power;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function readToken(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function state(record: PinRecord): AssignmentState {
  return {
    cid: record.cid,
    status: record.status,
    ...(record.detail ? { detail: record.detail } : {}),
  };
}

/** Bytes [offset, offset + length) of a pin's proof stream, read from its blocks. */
function readStream(disk: Disk, record: PinRecord, offset: number, length: number): Uint8Array {
  const end = Math.min(offset + length, record.size);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const s of record.segments) {
    const from = Math.max(offset, at);
    const to = Math.min(end, at + s.length);
    if (from < to) parts.push(disk.readBlockRange(s.cid, s.at + (from - at), to - from));
    at += s.length;
    if (at >= end) break;
  }
  const out = concat(parts);
  if (out.length !== end - offset) throw new Error("stream shorter than its record");
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > MAX_BODY) throw new Error("body too large");
    parts.push(part as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    return null;
  }
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json") {
  res.writeHead(status, { "content-type": type });
  res.end(JSON.stringify(body));
}

function problem(res: ServerResponse, status: number, code: string, detail: string) {
  send(
    res,
    status,
    { type: `https://tessera.dev/problems/${code}`, title: code, status, detail, code },
    "application/problem+json",
  );
}
