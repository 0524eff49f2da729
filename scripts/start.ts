// `npm start`: the local Tessera network. Runs the Worker in workerd through `wrangler dev`, with
// SQLite-backed Durable Objects and R2 persisted under .wrangler/state, and says where things are.
//
// PORT (default 8787) and HOST (default 127.0.0.1) override the address; TESSERA_STATE_DIR
// (default .wrangler/state) is where local data lives. Arguments after `--` go to wrangler, e.g.
// `npm start -- --var STORAGE_QUOTA_BYTES:1099511627776`.
import { spawn } from "node:child_process";

const port = Number(process.env.PORT ?? 8787);
const host = process.env.HOST ?? "127.0.0.1";
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`PORT must be a TCP port number, got ${process.env.PORT}`);
  process.exit(2);
}

const base = `http://${host}:${port}`;
const child = spawn(
  "wrangler",
  [
    "dev",
    "--ip",
    host,
    "--port",
    String(port),
    "--persist-to",
    process.env.TESSERA_STATE_DIR ?? ".wrangler/state",
    "--show-interactive-dev-session=false",
    ...process.argv.slice(2),
  ],
  {
    stdio: ["inherit", "pipe", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  },
);

let announced = false;
child.stdout.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!announced && /Ready on/.test(chunk.toString())) {
    announced = true;
    console.log(
      [
        "",
        "Tessera is running:",
        `  API                ${base}/v1   (health: ${base}/healthz)`,
        `  API reference      ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
        `  Contributor page   ${base}/`,
        "",
        `Create an account:  curl -X POST ${base}/v1/accounts`,
        "",
      ].join("\n"),
    );
  }
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
