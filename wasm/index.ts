// Tessera's proof hashing: BLAKE3 in WebAssembly (SIMD128), plus Merkle proofs over the 1 KiB
// chunks of BLAKE3's own tree, so a file's ordinary BLAKE3 hash is the root that storage proofs
// check against (layouts in docs/proofs.md). Works in workerd, browsers and Node 24; call
// `await init()` once, after which everything is synchronous.
//
// Bundling: wrangler and Vite handle the `.wasm` files as they are. Plain esbuild needs
// `--loader:.wasm=file` and wasm/build/*.wasm served under `build/` beside the bundle, or pass
// the module, its bytes or a Response to `init`.
export {
  blake3,
  createHasher,
  deriveKey,
  type Hasher,
  type HasherOptions,
  keyedHash,
} from "./hash.ts";
export { init } from "./kernel.ts";
export type { WasmSource } from "./load.ts";
export { outboard } from "./outboard.ts";
export { PROOF_VERSION, prove, proveFromOutboard, verify } from "./proof.ts";
