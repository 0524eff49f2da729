import { exports } from "cloudflare:workers";
import { expect } from "vitest";

/** Calls the Worker under test, as a client would over HTTP. */
export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`http://tessera.test${path}`, init));
}

export function jsonInit(method: string, body: unknown, headers: Record<string, string> = {}) {
  return {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  } satisfies RequestInit;
}

export function bearer(apiKey: string, headers: Record<string, string> = {}) {
  return { authorization: `Bearer ${apiKey}`, ...headers };
}

/** Asserts a problem document with the given status and code, and returns it. */
export async function expectProblem(res: Response, status: number, code: string) {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as Record<string, unknown>;
  expect({ status: res.status, code: body.code }).toEqual({ status, code });
  expect(body).toMatchObject({ status, type: expect.stringContaining(code) });
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack traces
  return body;
}

/** Signs up a fresh account and returns its id and all-scopes key. */
export async function signup(): Promise<{ accountId: string; apiKey: string }> {
  const res = await api("/v1/accounts", jsonInit("POST", {}));
  expect(res.status).toBe(201);
  const body = (await res.json()) as { account_id: string; api_key: string };
  return { accountId: body.account_id, apiKey: body.api_key };
}

/**
 * A request body streamed in `piece`-sized chunks with no Content-Length, as a client piping a
 * file of unknown size sends it.
 */
export function streamedBody(data: Uint8Array, piece = 1024 * 1024): RequestInit {
  const body = new ReadableStream({
    start(controller) {
      for (let i = 0; i < data.length; i += piece) controller.enqueue(data.slice(i, i + piece));
      controller.close();
    },
  });
  // `duplex` is required for streamed bodies but missing from the RequestInit types.
  return { body, duplex: "half" } as RequestInit;
}

/** The account's balances, in USDC base units. */
export async function balance(apiKey: string): Promise<{ available: number; held: number }> {
  const res = await api("/v1/account", { headers: bearer(apiKey) });
  const { available, held } = (
    (await res.json()) as { balance: { available: number; held: number } }
  ).balance;
  return { available, held };
}
