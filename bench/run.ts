// `npm run bench -- <name>` runs bench/<name>.ts. Benchmarks print their figures next to peers
// measured in the same run; they are never part of `npm test`.
import { readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";

const here = new URL(".", import.meta.url);
const available = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
const names = process.argv.slice(2);

if (names.length === 0 || names.some((n) => !available.includes(n))) {
  console.error(`usage: npm run bench -- <${available.join("|")}> [...]`);
  process.exit(2);
}
for (const name of names) {
  console.log(`\n== bench: ${name} ==`);
  await import(pathToFileURL(new URL(`${name}.ts`, here).pathname).href);
}
