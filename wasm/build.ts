// `npm run build:wasm`: compiles the AssemblyScript sources in wasm/assembly/ into
// wasm/build/blake3.wasm (SIMD128 + relaxed SIMD: Node, workerd, Chromium, Firefox) and
// wasm/build/blake3-simd128.wasm (SIMD128 only, for engines without relaxed SIMD, e.g. Safari).
// The output depends only on the sources, the flags and the compiler version, so a stamp of
// those lets repeated builds (every `npm test`) skip the compiler.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import asc from "assemblyscript/asc";

const here = new URL(".", import.meta.url);
const sourceDir = new URL("assembly/", here);
const outDir = new URL("build/", here);
const stampFile = new URL("blake3.stamp", outDir);

const COMMON = [
  "--optimizeLevel",
  "3",
  "--shrinkLevel",
  "0",
  "--converge",
  "--noAssert",
  "--runtime",
  "stub",
];
const TARGETS = [
  { file: "blake3.wasm", features: "simd,relaxed-simd" },
  { file: "blake3-simd128.wasm", features: "simd" },
];

/** Hash of everything that determines the output, so an unchanged tree is not recompiled. */
async function inputsStamp(files: string[]): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`${asc.version}\n${JSON.stringify([COMMON, TARGETS])}\n`);
  for (const file of files) {
    hash.update(`${file}\n`);
    hash.update(await readFile(new URL(file, sourceDir)));
  }
  return hash.digest("hex");
}

async function exists(url: URL): Promise<boolean> {
  try {
    await readFile(url);
    return true;
  } catch {
    return false;
  }
}

async function upToDate(stamp: string): Promise<boolean> {
  if (!(await exists(stampFile))) return false;
  if ((await readFile(stampFile, "utf8")) !== stamp) return false;
  for (const { file } of TARGETS) if (!(await exists(new URL(file, outDir)))) return false;
  return true;
}

// kernels.ts is generated (wasm/tools/gen-kernels.ts), never committed: regenerate it first.
execFileSync(process.execPath, [new URL("tools/gen-kernels.ts", here).pathname], {
  stdio: "inherit",
});

const files = (await readdir(sourceDir)).filter((f) => f.endsWith(".ts")).sort();
const stamp = await inputsStamp(files);
if (await upToDate(stamp)) {
  console.log("wasm/build is up to date");
} else {
  await mkdir(outDir, { recursive: true });
  const entry = new URL("index.ts", sourceDir).pathname;
  for (const { file, features } of TARGETS) {
    const outFile = new URL(file, outDir).pathname;
    const args = [entry, ...COMMON, "--enable", features, "--outFile", outFile];
    const { error, stderr } = await asc.main(args);
    if (error) {
      console.error(stderr.toString());
      throw error;
    }
    console.log(`built wasm/build/${file} (${(await readFile(outFile)).byteLength} bytes)`);
  }
  await writeFile(stampFile, stamp);
}
