import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KernelReport } from "../../client/contributor/src/kernel-check.ts";
import { launchChromium } from "../../scripts/chromium.ts";

/**
 * Every WGSL kernel against its CPU reference on random inputs, in Chromium (WebGPU on
 * SwiftShader): render tiles within the comparator's tolerance, inference bit for bit with and
 * without the packed integer dot product. The check is the page's own `/build/kernel-check.js`.
 */
describe("GPU kernels in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("agree with the CPU references on random scenes and models", async () => {
    const page = await browser.newPage();
    await page.goto(`${inject("baseUrl")}/`);
    // A string, so the test runner's transform leaves the page's dynamic import alone.
    const report = (await page.evaluate(
      "import('/build/kernel-check.js').then((m) => m.checkKernels(7))",
    )) as KernelReport;
    expect(report.render.passed).toBe(report.render.tiles);
    expect(report.render.worst.mismatched).toBeLessThanOrEqual(report.render.worst.allowed);
    expect(report.inference.plainEqual).toBe(report.inference.models);
    if (report.packedDot) expect(report.inference.packedEqual).toBe(report.inference.models);
  }, 240_000);
});
