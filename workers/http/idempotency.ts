import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Account } from "../../durable-objects/account/account.ts";
import { hex, sha256 } from "../../protocol/digest.ts";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./types.ts";

/** Printable ASCII, 1 to 255 characters; a quoted sf-string as the draft writes it is accepted. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Response headers that describe this particular delivery and are not replayed. */
const NOT_REPLAYED = new Set(["x-request-id", "ratelimit", "ratelimit-policy", "set-cookie"]);

/** The `Idempotency-Key` of a request, unquoted, or `undefined` when there is none. */
export function idempotencyKey(c: Context): string | undefined {
  const raw = c.req.header("idempotency-key");
  if (raw === undefined) return undefined;
  const key = raw.trim().replace(/^"(.*)"$/, "$1");
  if (!KEY_PATTERN.test(key)) {
    throw new ApiError(
      "idempotency_key_invalid",
      "Idempotency-Key must be 1 to 255 printable ASCII characters.",
    );
  }
  return key;
}

/** What makes two requests "the same" for a key: method, path and body bytes, as SHA-256 hex. */
export async function requestFingerprint(method: string, path: string, body: Uint8Array) {
  const head = new TextEncoder().encode(`${method} ${path}\n`);
  const all = new Uint8Array(head.length + body.length);
  all.set(head);
  all.set(body, head.length);
  return hex(await sha256(all));
}

/**
 * A body that is streamed (uploads of any size) cannot be read twice, so its fingerprint stands
 * on what describes it: query, media type and length. The cost of not buffering: a client that
 * reuses a key for different bytes of the same length gets the first upload's answer back.
 */
function streamedBodyStandIn(c: Context): Uint8Array {
  const url = new URL(c.req.url);
  const parts = [
    url.search,
    c.req.header("content-type") ?? "",
    c.req.header("content-length") ?? "",
  ];
  return new TextEncoder().encode(parts.join("\n"));
}

/**
 * Runs `handler` at most once per Idempotency-Key in the account
 * (draft-ietf-httpapi-idempotency-key-header): a retry with the same key and body gets the first
 * response again, marked `Idempotent-Replayed: true`; the same key with another body is 422; a
 * retry while the first is still running is 409. Only successes are stored. Without the header, the handler simply runs.
 */
export async function runIdempotent(
  c: Context,
  account: DurableObjectStub<Account>,
  key: string | undefined,
  handler: () => Promise<Response>,
  options: { streamedBody?: boolean } = {},
): Promise<Response> {
  if (key === undefined) return handler();
  const sealing = await sealFor(key);
  const print = await requestFingerprint(
    c.req.method,
    new URL(c.req.url).pathname,
    options.streamedBody ? streamedBodyStandIn(c) : new Uint8Array(await c.req.arrayBuffer()),
  );
  const outcome = await account.idempotencyBegin(sealing.id, print);
  switch (outcome.kind) {
    case "replay": {
      const headers = new Headers(outcome.response.headers as [string, string][]);
      headers.set("idempotent-replayed", "true");
      const body = await sealing.open(outcome.response.body);
      return new Response(body, { status: outcome.response.status, headers });
    }
    case "mismatch":
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key for a new request.",
      );
    case "in_flight":
      throw new ApiError(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed; retry later.",
        { headers: { "retry-after": "1" } },
      );
    case "proceed":
      break;
  }
  let response: Response;
  try {
    response = await handler();
  } catch (err) {
    await account.idempotencyAbandon(sealing.id, print);
    throw err;
  }
  // Only successes are stored. A refusal (4xx) or failure (5xx) changed nothing, so the client
  // may fix the cause (top up, correct a field) and retry with the same key.
  if (response.status >= 400) {
    await account.idempotencyAbandon(sealing.id, print);
    return response;
  }
  const body = await sealing.seal(await response.clone().arrayBuffer());
  const headers = [...response.headers].filter(([k]) => !NOT_REPLAYED.has(k.toLowerCase()));
  await account.idempotencyComplete(sealing.id, print, { status: response.status, headers, body });
  return response;
}

/** Middleware form for authenticated routes: the account comes from the principal. */
export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const key = idempotencyKey(c);
  const res = await runIdempotent(c, c.var.account, key, async () => {
    await next();
    return c.res;
  });
  c.res = res;
});

/**
 * Stored responses can hold secrets (a created API key is in its response), so they are kept
 * sealed: the record is filed under a hash of the Idempotency-Key and its body encrypted
 * (AES-GCM) with a key derived from it. Only a client presenting the key can read the replay;
 * the stored rows alone reveal neither the key nor the secret.
 */
async function sealFor(idempotencyKey: string) {
  const id = await idempotencyRecordId(idempotencyKey);
  const aes = await crypto.subtle.importKey(
    "raw",
    await sha256(`tessera idempotency seal\n${idempotencyKey}`),
    { name: "AES-GCM" },
    false,
    ["encrypt", "decrypt"],
  );
  return {
    id,
    async seal(plain: ArrayBuffer): Promise<ArrayBuffer> {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv }, aes, plain),
      );
      const out = new Uint8Array(12 + sealed.length);
      out.set(iv);
      out.set(sealed, 12);
      return out.buffer;
    },
    async open(stored: ArrayBuffer): Promise<ArrayBuffer> {
      const bytes = new Uint8Array(stored);
      return crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.slice(0, 12) },
        aes,
        bytes.slice(12),
      );
    },
  };
}

/** Where the record of an Idempotency-Key is filed: a hash, so stored rows do not reveal keys. */
export async function idempotencyRecordId(idempotencyKey: string): Promise<string> {
  return hex(await sha256(`tessera idempotency id\n${idempotencyKey}`));
}
