import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "../../scripts/chromium.ts";

/**
 * A Solana wallet through the Wallet Standard: a test wallet (an ed25519 key in the page, with
 * `standard:connect` and `solana:signMessage`, registered by the standard's
 * `wallet-standard:register-wallet` event) appears as a button; choosing it makes the tab
 * contribute as the wallet's address, the handshake signed by the wallet.
 */
const TEST_WALLET = `
(() => {
  const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const base58 = (bytes) => {
    let n = 0n;
    for (const b of bytes) n = n * 256n + BigInt(b);
    let s = "";
    while (n > 0n) { s = alphabet[Number(n % 58n)] + s; n /= 58n; }
    for (const b of bytes) { if (b !== 0) break; s = "1" + s; }
    return s;
  };
  const ready = crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]).then(async (keys) => {
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    return { keys, account: { address: base58(publicKey), publicKey, chains: ["solana:mainnet"], features: ["solana:signMessage"] } };
  });
  window.__signed = 0;
  const wallet = {
    version: "1.0.0",
    name: "Test Wallet",
    icon: "data:image/svg+xml;base64,PHN2Zy8+",
    chains: ["solana:mainnet"],
    get accounts() { return []; },
    features: {
      "standard:connect": { version: "1.0.0", connect: async () => {
        const { account } = await ready;
        window.__walletAddress = account.address;
        return { accounts: [account] };
      } },
      "solana:signMessage": { version: "1.0.0", signMessage: async (...inputs) => {
        const { keys } = await ready;
        window.__signed++;
        return Promise.all(inputs.map(async ({ message }) => ({
          signedMessage: message,
          signature: new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, message)),
        })));
      } },
    },
  };
  const register = (api) => api.register(wallet);
  window.addEventListener("wallet-standard:app-ready", (e) => register(e.detail));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: register }));
})();
`;

describe("contributing as a Wallet Standard wallet", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("offers the wallet, and the tab then contributes as its address with its signature", async () => {
    const context = await browser.newContext();
    await context.addInitScript(TEST_WALLET);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${inject("baseUrl")}/`);
    await page.getByRole("button", { name: "Use Test Wallet" }).click();
    const address = (await page.evaluate("window.__walletAddress")) as string;
    expect(address).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    await expect(page.locator("#address").textContent()).resolves.toBe(address);
    await page.locator("#contribute:not([disabled])").click();
    await page.locator('#state[data-state="waiting"]').waitFor({ timeout: 60_000 });
    // The server accepted a handshake signed by the wallet, for the wallet's address.
    expect(await page.evaluate("window.__signed")).toBeGreaterThan(0);
    const record = await fetch(`${inject("baseUrl")}/v1/contributors/${address}`);
    expect(((await record.json()) as { address: string }).address).toBe(address);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
