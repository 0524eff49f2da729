// `npm run bench -- kernels`: each WGSL kernel's work per second in Chromium next to its CPU
// reference (TypeScript) in the same page and run. Both sides compute the same random inputs and
// the GPU's answers are checked against the CPU's before a figure is printed.
//
// On a build machine Chromium's WebGPU runs on SwiftShader, a CPU emulation of a GPU: its
// figures are for spotting regressions between runs, never for GPU speed. The output says so.
import type { KernelReport } from "../client/contributor/src/kernel-check.ts";
import { launchChromium } from "../scripts/chromium.ts";
import { startLocalNetwork } from "../scripts/local-network.ts";

const net = await startLocalNetwork();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${net.base}/`);
  const run = (seed: number) =>
    page.evaluate(
      `import('/build/kernel-check.js').then((m) => m.checkKernels(${seed}))`,
    ) as Promise<KernelReport>;
  await run(1); // warm-up: pipelines compiled, caches filled
  const r = await run(2);
  const ok =
    r.render.passed === r.render.tiles &&
    r.inference.plainEqual === r.inference.models &&
    (!r.packedDot || r.inference.packedEqual === r.inference.models);
  const m = (x: number) => (x / 1e6).toFixed(2);
  console.log(
    `adapter: ${r.adapter}${/swiftshader/i.test(r.adapter) ? " (SwiftShader: a CPU, figures for regressions only)" : ""}`,
  );
  console.log(`answers agree with the CPU references: ${ok ? "yes" : "NO"}`);
  console.log("kernel      unit             WebGPU        CPU reference   ratio");
  console.log(
    `render      Msamples/s   ${m(r.render.gpuSamplesPerSecond).padStart(10)}   ${m(r.render.cpuSamplesPerSecond).padStart(12)}   ${(r.render.gpuSamplesPerSecond / r.render.cpuSamplesPerSecond).toFixed(2)}×`,
  );
  console.log(
    `inference   MMAC/s       ${m(r.inference.gpuMacsPerSecond).padStart(10)}   ${m(r.inference.cpuMacsPerSecond).padStart(12)}   ${(r.inference.gpuMacsPerSecond / r.inference.cpuMacsPerSecond).toFixed(2)}×  (${r.packedDot ? "dot4I8Packed" : "i32 fallback"})`,
  );
  if (!ok) process.exitCode = 1;
} finally {
  await browser.close();
  net.stop();
}
