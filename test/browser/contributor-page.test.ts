import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "../../scripts/chromium.ts";

describe("contributor page in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("loads from the local network and reports a WebGPU adapter", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    const sockets: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.goto(`${inject("baseUrl")}/`);
    await expect(page.title()).resolves.toContain("Tessera");
    const status = page.locator("#gpu-status");
    await status.and(page.locator('[data-state="ready"]')).waitFor({ timeout: 30_000 });
    await expect(status.textContent()).resolves.toBe("WebGPU adapter ready.");
    await expect(page.locator("#gpu-details").isVisible()).resolves.toBe(true);
    const maxBuffer = await page.locator("#gpu-max-buffer").textContent();
    expect(maxBuffer).toMatch(/^\d+ MiB$/);
    // Opt-in: ready to contribute, but nothing runs and nothing connects until the button.
    await page.locator("#contribute:not([disabled])").waitFor();
    await expect(page.locator("#state").getAttribute("data-state")).resolves.toBe("idle");
    await expect(page.locator("#address").textContent()).resolves.toMatch(
      /^[1-9A-HJ-NP-Za-km-z]{32,44}$/,
    );
    expect(sockets).toEqual([]);
    expect(errors).toEqual([]);
  });
});
