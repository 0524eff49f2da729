// Finds the compiled module in whichever runtime we are in. Workers cannot compile WebAssembly
// from bytes at run time, so there the module must come from a `.wasm` import that wrangler (or
// the Workers vitest pool) turns into a precompiled WebAssembly.Module; Node reads the file;
// browsers fetch it next to this module (bundlers such as Vite rewrite the `new URL` pattern).
// Engines without relaxed SIMD (Safari today) reject blake3.wasm with a CompileError and get
// blake3-simd128.wasm instead: same code, byte rotations done with shuffles and shifts.

/** Anything `init` accepts in place of the default lookup. */
export type WasmSource = WebAssembly.Module | BufferSource | Response | PromiseLike<Response>;

function isWorkerd(): boolean {
  return globalThis.navigator?.userAgent === "Cloudflare-Workers";
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === "string" && !isWorkerd();
}

async function readBytes(url: URL): Promise<BufferSource> {
  if (isNode()) {
    // Indirect specifier: keeps bundlers targeting Workers or browsers from resolving node:fs.
    const fsModule = "node:fs/promises";
    const fs = (await import(/* @vite-ignore */ fsModule)) as typeof import("node:fs/promises");
    return fs.readFile(url);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`tessera/wasm: ${response.status} fetching ${url}`);
  return response.arrayBuffer();
}

async function compileWithFallback(): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(
      await readBytes(new URL("./build/blake3.wasm", import.meta.url)),
    );
  } catch (error) {
    if (!(error instanceof WebAssembly.CompileError)) throw error;
    const plain = new URL("./build/blake3-simd128.wasm", import.meta.url);
    return WebAssembly.compile(await readBytes(plain));
  }
}

async function defaultModule(): Promise<WebAssembly.Module> {
  if (isWorkerd()) return (await import("./build/blake3.wasm")).default;
  return compileWithFallback();
}

/** Instantiates the BLAKE3 module from `source`, or from the runtime's default location. */
export async function instantiate(source?: WasmSource): Promise<WebAssembly.Instance> {
  const resolved = await (source ?? defaultModule());
  if (resolved instanceof WebAssembly.Module) return WebAssembly.instantiate(resolved, {});
  const bytes = resolved instanceof Response ? await resolved.arrayBuffer() : resolved;
  return WebAssembly.instantiate(await WebAssembly.compile(bytes as BufferSource), {});
}
