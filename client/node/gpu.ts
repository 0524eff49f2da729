import { existsSync } from "node:fs";

/**
 * WebGPU in Node through Dawn (the `webgpu` package): what `tessera node` and the GPU kernel
 * tests run on. On a machine without a GPU, Dawn's Vulkan backend runs on a software driver;
 * Chromium's SwiftShader ICD is used when present and no other is configured
 * (`VK_ICD_FILENAMES`), which needs the Vulkan loader (`libvulkan1` on Debian).
 */
const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

export interface NodeGpu {
  gpu: GPU;
  adapter: GPUAdapter;
  /** WGSL language features (e.g. `packed_4x8_integer_dot_product`). */
  wgslFeatures: ReadonlySet<string>;
}

/**
 * Every GPU instance made here stays referenced for the life of the process: Dawn aborts the
 * process if the instance is garbage-collected while a device made from it is still alive.
 */
const keepAlive: GPU[] = [];

export async function nodeGpu(): Promise<NodeGpu> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD))
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const { create, globals } = await import("webgpu");
  Object.assign(globalThis, globals);
  const gpu = create([]);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter();
  if (!adapter)
    throw new Error(
      "no WebGPU adapter: install a Vulkan driver (or Chromium for SwiftShader) and libvulkan1",
    );
  return { gpu, adapter, wgslFeatures: new Set(gpu.wgslLanguageFeatures ?? []) };
}
