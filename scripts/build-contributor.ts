// Bundles the contributor page (client/contributor/src) into client/contributor/public/build,
// which the Worker serves as static assets: the page needs no build server. The worker bundle
// finds the BLAKE3 WebAssembly next to itself (wasm/load.ts looks in `./build/`), so the
// compiled modules are copied there too. Run by `npm run build` (after build:wasm).
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const out = "client/contributor/public/build";
mkdirSync(join(out, "build"), { recursive: true });
await build({
  entryPoints: [
    "client/contributor/src/app.ts",
    "client/contributor/src/worker.ts",
    "client/contributor/src/kernel-check.ts",
  ],
  outdir: out,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  // The workerd branch of wasm/load.ts imports .wasm modules; in browsers it fetches instead.
  loader: { ".wasm": "file" },
  logLevel: "warning",
});
for (const f of readdirSync("wasm/build").filter((f) => f.endsWith(".wasm")))
  copyFileSync(join("wasm/build", f), join(out, "build", f));
console.log(`contributor page bundled into ${out}`);
