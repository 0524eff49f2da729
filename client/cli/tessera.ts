// `tessera`: the command line. As built it has one command, `tessera node`: the native GPU
// contributor (client/node/node.ts) or, with `--storage DIR --capacity SIZE`, a storage provider
// (client/node/storage/provider.ts). Run it with `npm run tessera -- node [options]`.
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { identityFromFile } from "../node/identity.ts";
import { startNode } from "../node/node.ts";
import { parseSize, startProvider } from "../node/storage/provider.ts";

const HELP = `usage: tessera node [--url URL] [--slots N] [--pool native|browser] [--key FILE]
       tessera node --storage DIR --capacity SIZE [--url URL] [--listen HOST:PORT] [--key FILE]

Contributes this machine's GPU (WebGPU through Dawn) to a Tessera network and earns USDC for
verified work. Prints a line per task and the totals; Ctrl-C hands the open leases back and exits.

  --url    the Tessera base URL (default $TESSERA_URL or http://127.0.0.1:8787)
  --slots  tasks run at once (default 1)
  --pool   contributor pool (default native)
  --key    the node's ed25519 key file, made on first run (default ~/.config/tessera/node-key.json)

  --storage DIR      be a storage provider instead: keep pinned content in DIR (kept across
                     restarts; the key defaults to DIR/provider-key.json)
  --capacity SIZE    bytes offered, e.g. 500G, 2T, 1048576 (required with --storage)
  --listen HOST:PORT where the platform reaches this provider (default 127.0.0.1:0, any port)
  --public-url URL   the URL to register when it differs from --listen (behind a proxy)

example: npm run tessera -- node --url https://tessera.example.com --slots 2
         npm run tessera -- node --storage /srv/tessera --capacity 500G --listen 0.0.0.0:4100 \
           --public-url https://provider.example.com`;

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
      key: { type: "string" },
      storage: { type: "string" },
      capacity: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:0" },
      "public-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.storage !== undefined) {
    const capacity = parseSize(values.capacity ?? "");
    const listen = values.listen.match(/^(.+):(\d+)$/);
    if (capacity === null || !listen) {
      console.error("tessera node: --storage needs --capacity SIZE (and --listen HOST:PORT)");
      return 2;
    }
    const provider = await startProvider({
      base: values.url,
      dir: values.storage,
      capacity,
      identity: await identityFromFile(values.key ?? join(values.storage, "provider-key.json")),
      host: listen[1],
      port: Number(listen[2]),
      publicUrl: values["public-url"],
    });
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await provider.close();
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
    identity: await identityFromFile(
      values.key ?? join(homedir(), ".config", "tessera", "node-key.json"),
    ),
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
