/**
 * Lets kit's WebCrypto calls run in workerd. Bundlers that honour the `browser` field (Vite, so
 * the Workers vitest pool) give a Worker kit's browser build, which refuses key generation,
 * signing and SHA-256 (so PDA derivation) unless `globalThis.isSecureContext` is true: a flag
 * browsers set and workerd leaves undefined, though Workers always have WebCrypto with Ed25519.
 * Only there, and only when the flag is missing, do we set it. Node, and wrangler's own bundle
 * (which picks kit's node build and needs the `nodejs_compat` flag for it), never read it.
 */
const scope = globalThis as { isSecureContext?: boolean; navigator?: { userAgent?: string } };
if (
  scope.isSecureContext === undefined &&
  scope.navigator?.userAgent === "Cloudflare-Workers" &&
  globalThis.crypto?.subtle !== undefined
) {
  Object.defineProperty(globalThis, "isSecureContext", { value: true, configurable: true });
}

export {};
