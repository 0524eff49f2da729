// `.wasm` imports resolve to a compiled module in workerd (wrangler and the Workers vitest pool).
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
