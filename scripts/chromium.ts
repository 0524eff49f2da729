import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

// Chromium for the browser suite and the kernel benchmark.
/**
 * Launches the system Chromium headless with WebGPU on SwiftShader (CPU Vulkan), the only GPU a
 * build machine has. There is no fallback: without Chromium the suite fails with the install hint.
 */
export const CHROMIUM_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--enable-unsafe-swiftshader",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(path)) {
    throw new Error(
      `Chromium not found at ${path}. Install it with \`sudo apt-get install -y chromium\` ` +
        "(Debian/Ubuntu) or point CHROMIUM_PATH at a Chromium binary.",
    );
  }
  return path;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_FLAGS });
}
