import { mkdirSync, writeFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runInference } from "../../client/kernels/index.ts";
import { RenderSpec } from "../../protocol/jobs.ts";
import { launchChromium } from "../../scripts/chromium.ts";
import { pngPixels } from "../fixtures/png.ts";
import { referenceImage } from "../fixtures/render.ts";

/**
 * The contributor page earning for real: two Chromium tabs (separate profiles, so two keys)
 * open `/?autostart=1`, a customer submits a render job and an inference job over HTTP, and the
 * tabs' WebGPU kernels (SwiftShader) compute them. Both jobs must complete with results that
 * agree with the CPU references, and each tab must show what it did and earned. Saves the page
 * and the rendered image to `test-artifacts/`.
 */
const ARTIFACTS = "test-artifacts";

let browser: Browser;
let base = "";
let key = "";

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) },
  });

beforeAll(async () => {
  base = inject("baseUrl");
  browser = await launchChromium();
  const signup = await fetch(`${base}/v1/accounts`, { method: "POST" });
  key = ((await signup.json()) as { api_key: string }).api_key;
});

afterAll(async () => {
  await browser?.close();
});

const render = {
  kind: "render",
  width: 80,
  height: 48,
  samples_per_pixel: 4,
  max_bounces: 3,
  seed: 11,
  scene: {
    camera: { position: [0, 1, 3.5], look_at: [0, 0.5, 0], vfov: 45 },
    sky: { top: [0.9, 0.95, 1], bottom: [0.15, 0.15, 0.2] },
    materials: [
      { type: "diffuse", albedo: [0.85, 0.35, 0.2] },
      { type: "glass", ior: 1.5 },
      { type: "diffuse", albedo: [0.5, 0.5, 0.5] },
    ],
    spheres: [
      { center: [-0.6, 0.5, 0], radius: 0.5, material: 0 },
      { center: [0.6, 0.5, 0], radius: 0.5, material: 1 },
    ],
    planes: [{ point: [0, 0, 0], normal: [0, 1, 0], material: 2 }],
  },
};

async function upload(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const res = await api("/v1/uploads", {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { cid: string }).cid;
}

async function submit(spec: unknown): Promise<string> {
  const res = await api("/v1/jobs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

interface JobView {
  status: string;
  result_cid: string | null;
  failure: string | null;
  quote: { total: number };
  settlement: { charged: number } | null;
}

async function finished(id: string): Promise<JobView> {
  for (;;) {
    const view = (await (await api(`/v1/jobs/${id}`)).json()) as JobView;
    if (["completed", "failed", "cancelled"].includes(view.status)) return view;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function contributorTab(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 420, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/?autostart=1`);
  await page.locator('#state[data-state="waiting"]').waitFor({ timeout: 60_000 });
  return { page, errors };
}

describe("the contributor page in Chromium", () => {
  it("two tabs with ?autostart=1 complete a render job and an inference job, as the CPU references say", async () => {
    const tabs = [await contributorTab(), await contributorTab()];
    // Two different keys: replicas must come from different contributors.
    const addresses = await Promise.all(tabs.map((t) => t.page.locator("#address").textContent()));
    expect(new Set(addresses).size).toBe(2);

    // An inference job over a small random int8 model stored on the network.
    const r = (seed: number) => (i: number) => ((i * 2654435761 + seed * 97) >>> 24) - 128;
    const rows = 64;
    const cols = 40;
    const widths = [24, 10];
    const input = Int8Array.from({ length: rows * cols }, (_, i) => r(1)(i));
    const layers = [];
    const quant = [];
    let inputs = cols;
    for (const [k, outputs] of widths.entries()) {
      const weights = Int8Array.from({ length: outputs * inputs }, (_, i) => r(k + 2)(i));
      const biases = Int32Array.from({ length: outputs }, (_, i) => (i % 5) * 300 - 600);
      const requant = { multiplier: 1_200_000_000, shift: 38, zero_point: 0 };
      const activation = k === 0 ? "relu" : "none";
      layers.push({
        weights: await upload(new Uint8Array(weights.buffer)),
        biases: await upload(new Uint8Array(biases.buffer)),
        outputs,
        activation,
        requant,
      });
      quant.push({ inputs, outputs, weights, biases, activation: activation as "relu", requant });
      inputs = outputs;
    }
    const inference = {
      kind: "inference",
      input: { cid: await upload(new Uint8Array(input.buffer)), rows, cols, zero_point: 0 },
      layers,
    };

    const [renderId, inferenceId] = [await submit(render), await submit(inference)];
    const [renderDone, inferenceDone] = await Promise.all([
      finished(renderId),
      finished(inferenceId),
    ]);
    expect(renderDone).toMatchObject({ status: "completed", failure: null });
    expect(inferenceDone).toMatchObject({ status: "completed", failure: null });
    expect(renderDone.settlement?.charged).toBe(renderDone.quote.total);

    // The render: the GPUs' image against the CPU reference's, 8-bit, within the comparator's
    // tolerance (a rounding step or two; at most 1% of pixels further off).
    const spec = RenderSpec.parse(render);
    const expected = referenceImage(spec, renderId);
    const png = new Uint8Array(
      await (await fetch(`${base}/ipfs/${renderDone.result_cid}`)).arrayBuffer(),
    );
    const got = pngPixels(png, spec.width, spec.height);
    let off = 0;
    for (let p = 0; p < spec.width * spec.height; p++) {
      let differs = false;
      for (let c = 0; c < 3; c++)
        if (Math.abs((got[p * 4 + c] ?? 0) - (expected[p * 4 + c] ?? 0)) > 2) differs = true;
      if (differs) off++;
    }
    expect(off).toBeLessThanOrEqual(Math.floor(spec.width * spec.height * 0.01));

    // The inference: bit for bit.
    const matrix = new Uint8Array(
      await (await fetch(`${base}/ipfs/${inferenceDone.result_cid}`)).arrayBuffer(),
    );
    const reference = runInference(
      quant,
      { rows, cols, data: input, zeroPoint: 0 },
      { start: 0, count: rows },
    );
    expect(Buffer.from(matrix)).toEqual(Buffer.from(reference.buffer));

    // Each tab shows its work: tasks done, verified earnings, a preview of its tiles.
    for (const { page, errors } of tabs) {
      await page
        .locator("#earned-verified")
        .filter({ hasNotText: /^0\.000000 USDC$/ })
        .waitFor({ timeout: 30_000 });
      expect(Number(await page.locator("#tasks-done").textContent())).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(`${ARTIFACTS}/render.png`, png);
    await tabs[0]?.page.screenshot({ path: `${ARTIFACTS}/contributor-page.png`, fullPage: true });
    for (const { page } of tabs) await page.context().close();
  }, 300_000);
});
