// `tessera`: the command line. As built it has one command, `tessera node`, the native GPU
// contributor (client/node/node.ts). Run it with `npm run tessera -- node [options]`.
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { identityFromFile } from "../node/identity.ts";
import { startNode } from "../node/node.ts";

const HELP = `usage: tessera node [--url URL] [--slots N] [--pool native|browser] [--key FILE]

Contributes this machine's GPU (WebGPU through Dawn) to a Tessera network and earns USDC for
verified work. Prints a line per task and the totals; Ctrl-C hands the open leases back and exits.

  --url    the Tessera base URL (default $TESSERA_URL or http://127.0.0.1:8787)
  --slots  tasks run at once (default 1)
  --pool   contributor pool (default native)
  --key    the node's ed25519 key file, made on first run (default ~/.config/tessera/node-key.json)

example: npm run tessera -- node --url https://tessera.example.com --slots 2`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "node") {
    console.error(HELP);
    return command === "--help" || command === "-h" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      url: { type: "string", default: process.env.TESSERA_URL ?? "http://127.0.0.1:8787" },
      slots: { type: "string", default: "1" },
      pool: { type: "string", default: "native" },
      key: { type: "string", default: join(homedir(), ".config", "tessera", "node-key.json") },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const slots = Number(values.slots);
  if (!Number.isInteger(slots) || slots < 1 || slots > 16) {
    console.error("tessera node: --slots must be 1 to 16");
    return 2;
  }
  if (values.pool !== "native" && values.pool !== "browser") {
    console.error("tessera node: --pool must be native or browser");
    return 2;
  }
  const node = await startNode({
    base: values.url,
    slots,
    pool: values.pool,
    identity: await identityFromFile(values.key),
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await node.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`tessera: ${err.message}`);
    process.exit(1);
  },
);
