// Finds the compiled module in whichever runtime we are in. Workers cannot compile WebAssembly
// from bytes at run time, so there the module must come from a `.wasm` import that wrangler (or
// the Workers vitest pool) turns into a precompiled WebAssembly.Module; Node reads the file;
// browsers fetch it next to this module (bundlers such as Vite rewrite the `new URL` pattern).

/** Anything `init` accepts in place of the default lookup. */
export type WasmSource = WebAssembly.Module | BufferSource | Response | PromiseLike<Response>;

const WASM_PATH = "./build/blake3.wasm";

function isWorkerd(): boolean {
  return globalThis.navigator?.userAgent === "Cloudflare-Workers";
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === "string" && !isWorkerd();
}

async function defaultSource(): Promise<WasmSource> {
  if (isWorkerd()) {
    return (await import("./build/blake3.wasm")).default;
  }
  const url = new URL(WASM_PATH, import.meta.url);
  if (isNode()) {
    // Indirect specifier: keeps bundlers targeting Workers or browsers from resolving node:fs.
    const fsModule = "node:fs/promises";
    const { readFile } = (await import(
      /* @vite-ignore */ fsModule
    )) as typeof import("node:fs/promises");
    return readFile(url);
  }
  return fetch(url);
}

/** Instantiates the BLAKE3 module from `source`, or from the runtime's default location. */
export async function instantiate(source?: WasmSource): Promise<WebAssembly.Instance> {
  const resolved = await (source ?? defaultSource());
  if (resolved instanceof WebAssembly.Module) {
    return WebAssembly.instantiate(resolved, {});
  }
  const bytes = resolved instanceof Response ? await resolved.arrayBuffer() : resolved;
  return WebAssembly.instantiate(await WebAssembly.compile(bytes as BufferSource), {});
}
