import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalNetwork, startLocalNetwork } from "../../scripts/local-network.ts";
import { parseUpstreams } from "../../workers/gateway/upstream.ts";

/**
 * Two Tessera nodes over real HTTP: `origin` holds the content; `edge` holds nothing and is
 * configured with a lying upstream first and `origin` second. The edge must skip the liar's
 * bytes (they do not hash to the CID) and serve the verified ones.
 */
let origin: LocalNetwork;
let edge: LocalNetwork;
let liar: Server;
let liarHits = 0;
let liarBase = "";
let fileCid = "";
const file = new Uint8Array(2 * 1024 * 1024 + 777).map((_, i) => (i * 7 + 3) & 0xff);

beforeAll(async () => {
  liar = createServer((req, res) => {
    liarHits++;
    res.writeHead(200, { "content-type": "application/vnd.ipld.raw" });
    res.end(Buffer.from(`not the block you asked for: ${req.url}`));
  });
  await new Promise<void>((r) => liar.listen(0, "127.0.0.1", r));
  const address = liar.address();
  liarBase = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

  origin = await startLocalNetwork();
  const signup = await fetch(`${origin.base}/v1/accounts`, { method: "POST" });
  const { api_key } = (await signup.json()) as { api_key: string };
  const up = await fetch(`${origin.base}/v1/uploads`, {
    method: "POST",
    headers: { authorization: `Bearer ${api_key}`, "content-type": "application/octet-stream" },
    body: file,
  });
  fileCid = ((await up.json()) as { cid: string }).cid;
  edge = await startLocalNetwork({ vars: { GATEWAY_UPSTREAMS: `${liarBase},${origin.base}` } });
}, 180_000);

afterAll(() => {
  edge?.stop();
  origin?.stop();
  liar?.close();
});

describe("upstream trustless gateways", () => {
  it("serves content the node lacks from an upstream, verified block by block", async () => {
    const res = await fetch(`${edge.base}/ipfs/${fileCid}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(file);
    // The liar was asked first, and its bytes were refused.
    expect(liarHits).toBeGreaterThan(0);
  });

  it("answers 404 when no upstream has bytes that match", async () => {
    const missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    const res = await fetch(`${edge.base}/ipfs/${missing}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(((await res.json()) as { code: string }).code).toBe("content_not_found");
  });
});

describe("GATEWAY_UPSTREAMS", () => {
  it("accepts bare http(s) origins and nothing else", () => {
    expect(parseUpstreams(" https://a.example , http://127.0.0.1:8080 ")).toEqual([
      "https://a.example",
      "http://127.0.0.1:8080",
    ]);
    expect(parseUpstreams("")).toEqual([]);
    for (const bad of [
      "https://a.example/ipfs",
      "ftp://a.example",
      "https://u:p@a.example",
      "nope",
    ]) {
      expect(() => parseUpstreams(bad)).toThrow();
    }
  });
});
