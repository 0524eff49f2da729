import type { CID } from "multiformats/cid";
import type { ProviderBindings } from "../env.ts";
import { type BlockSource, Upstreams } from "./upstream.ts";

/**
 * Blocks R2 no longer has (pinned content past its staging TTL, or a lost object), read from the
 * storage providers holding proven replicas (issue 8), as trustless raw blocks
 * (`GET {provider}/ipfs/{cid}?format=raw`). The caller hashes every answer against its CID, so a
 * provider that serves wrong bytes is skipped, never served. The list of providers is asked of
 * the registry once per request.
 */
export class ProviderBlocks implements BlockSource {
  private list: Promise<{ url: string }[]> | undefined;

  constructor(private readonly env: ProviderBindings) {}

  async get(cid: CID, verify: (bytes: Uint8Array) => Promise<boolean>): Promise<Uint8Array | null> {
    this.list ??= this.env.PROVIDERS.get(this.env.PROVIDERS.idFromName("providers")).sources(
      Date.now(),
    );
    const origins = (await this.list).map((p) => p.url);
    if (origins.length === 0) return null;
    return new Upstreams(origins).get(cid, verify);
  }
}

/** Asks each source in turn; the first verified block wins. */
export class BlockSources implements BlockSource {
  constructor(private readonly sources: readonly BlockSource[]) {}

  async get(cid: CID, verify: (bytes: Uint8Array) => Promise<boolean>): Promise<Uint8Array | null> {
    for (const source of this.sources) {
      const bytes = await source.get(cid, verify);
      if (bytes) return bytes;
    }
    return null;
  }
}
