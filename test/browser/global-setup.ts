import type { TestProject } from "vitest/node";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";

/** The browser suite runs against the local network as `npm start` serves it. */
declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

let network: LocalNetwork | undefined;

export async function setup(project: TestProject) {
  network = await startLocalNetwork();
  project.provide("baseUrl", network.base);
}

export async function teardown() {
  network?.stop();
}
