// `npm run build:wasm`: compiles the AssemblyScript sources in wasm/assembly/ into
// wasm/build/blake3.wasm. The output depends only on the sources, the flags and the compiler
// version, so a stamp of those lets repeated builds (every `npm test`) skip the compiler.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import asc from "assemblyscript/asc";

const here = new URL(".", import.meta.url);
const sourceDir = new URL("assembly/", here);
const outDir = new URL("build/", here);
const wasmFile = new URL("blake3.wasm", outDir);
const stampFile = new URL("blake3.stamp", outDir);

const FLAGS = [
  "--optimizeLevel",
  "3",
  "--shrinkLevel",
  "0",
  "--converge",
  "--noAssert",
  "--enable",
  "simd,relaxed-simd",
  "--runtime",
  "stub",
];

/** Hash of everything that determines the output, so an unchanged tree is not recompiled. */
async function inputsStamp(files: string[]): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`${asc.version}\n${FLAGS.join(" ")}\n`);
  for (const file of files) {
    hash.update(`${file}\n`);
    hash.update(await readFile(new URL(file, sourceDir)));
  }
  return hash.digest("hex");
}

async function readOr(url: URL, fallback: string): Promise<string> {
  try {
    return await readFile(url, "utf8");
  } catch {
    return fallback;
  }
}

const files = (await readdir(sourceDir)).filter((f) => f.endsWith(".ts")).sort();
const stamp = await inputsStamp(files);
if ((await readOr(stampFile, "")) === stamp && (await readOr(wasmFile, "")) !== "") {
  console.log("wasm/build/blake3.wasm is up to date");
} else {
  await mkdir(outDir, { recursive: true });
  const entry = new URL("index.ts", sourceDir).pathname;
  const { error, stderr } = await asc.main([entry, ...FLAGS, "--outFile", wasmFile.pathname]);
  if (error) {
    console.error(stderr.toString());
    throw error;
  }
  await writeFile(stampFile, stamp);
  const size = (await readFile(wasmFile)).byteLength;
  console.log(`built wasm/build/blake3.wasm (${size} bytes)`);
}
