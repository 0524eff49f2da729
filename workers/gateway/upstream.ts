import type { CID } from "multiformats/cid";

/**
 * Blocks this node does not hold, fetched from the configured upstream trustless gateways
 * (`GATEWAY_UPSTREAMS`) as single raw blocks (Trustless Gateway spec, `application/vnd.ipld.raw`).
 *
 * Safe by construction: only the configured origins are ever asked (the CID is the only part of
 * the URL a client controls, and it has been parsed), redirects are refused rather than followed,
 * a response larger than `MAX_BLOCK_BYTES` is abandoned, and the caller hashes every block
 * against its CID: an upstream that answers wrong bytes is skipped, never served.
 */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024;
const TIMEOUT_MS = 15_000;

/** Somewhere to look for a block the store lacks; `verify` checks the bytes against the CID. */
export interface BlockSource {
  get(cid: CID, verify: (bytes: Uint8Array) => Promise<boolean>): Promise<Uint8Array | null>;
}

export class Upstreams implements BlockSource {
  constructor(
    private readonly origins: readonly string[],
    // Wrapped: workerd's `fetch` throws "Illegal invocation" when called as a method of another object.
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  get configured(): boolean {
    return this.origins.length > 0;
  }

  /** The first block an upstream returns that `verify` accepts, or `null`. */
  async get(cid: CID, verify: (bytes: Uint8Array) => Promise<boolean>): Promise<Uint8Array | null> {
    for (const origin of this.origins) {
      const bytes = await this.fetchFrom(origin, cid);
      if (bytes && (await verify(bytes))) return bytes;
      if (bytes) console.warn(`upstream ${origin} answered wrong bytes for ${cid}`);
    }
    return null;
  }

  private async fetchFrom(origin: string, cid: CID): Promise<Uint8Array | null> {
    try {
      const res = await this.fetcher(`${origin}/ipfs/${cid.toString()}?format=raw`, {
        headers: { accept: "application/vnd.ipld.raw" },
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (res.status !== 200 || !res.body) return null;
      const length = Number(res.headers.get("content-length") ?? 0);
      if (length > MAX_BLOCK_BYTES) return null;
      return await readAtMost(res.body, MAX_BLOCK_BYTES);
    } catch (err) {
      // Unreachable, timed out or refused: try the next origin.
      console.warn(
        `upstream ${origin} failed for ${cid}: ${err instanceof Error ? err.message : err}`,
      );
      return null;
    }
  }
}

async function readAtMost(
  body: ReadableStream<Uint8Array>,
  max: number,
): Promise<Uint8Array | null> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of body) {
    size += part.length;
    if (size > max) return null;
    parts.push(part);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Parses `GATEWAY_UPSTREAMS`: comma-separated http(s) origins, nothing else (no path, query or
 * credentials), so a configuration mistake cannot point the gateway somewhere unintended.
 */
export function parseUpstreams(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const url = new URL(s);
      const bare =
        url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
      if (!["http:", "https:"].includes(url.protocol) || !bare) {
        throw new Error(`GATEWAY_UPSTREAMS entries must be bare http(s) origins, not ${s}`);
      }
      return url.origin;
    });
}
