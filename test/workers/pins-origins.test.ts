import { describe, expect, it } from "vitest";
import { classifyOrigin } from "../../durable-objects/pin/origins.ts";

/** A pin's origins become fetch targets only when they are public http(s) gateways (SSRF). */
describe("pin origins", () => {
  it("turns http(s) URLs and HTTP multiaddrs into gateway origins", () => {
    const cases: [string, string][] = [
      ["https://gw.example.org", "https://gw.example.org"],
      ["https://gw.example.org:443/ipfs/", "https://gw.example.org"],
      ["http://203.0.113.7:8080", "http://203.0.113.7:8080"],
      ["/dns4/gw.example.org/tcp/443/https", "https://gw.example.org"],
      ["/dns/gw.example.org/tcp/443/tls/http", "https://gw.example.org"],
      ["/ip4/203.0.113.7/tcp/8080/http", "http://203.0.113.7:8080"],
      [
        "/ip6/2001:db8::1/tcp/80/http/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
        "http://[2001:db8::1]",
      ],
    ];
    for (const [input, origin] of cases) {
      expect(classifyOrigin(input, false), input).toEqual({ kind: "http", origin });
    }
  });

  it("keeps bitswap multiaddrs and other schemes as unusable hints", () => {
    for (const input of [
      "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
      "/ip4/203.0.113.7/udp/4001/quic-v1",
      "ftp://gw.example.org",
      "https://user:pw@gw.example.org",
      "not an address",
    ]) {
      expect(classifyOrigin(input, false).kind, input).toBe("unusable");
    }
  });

  it("refuses loopback, private, link-local, CGNAT, unspecified and multicast targets", () => {
    for (const input of [
      "http://127.0.0.1:8080",
      "http://127.1.2.3",
      "http://2130706433", // 127.0.0.1 as one number: the URL parser normalizes it
      "http://localhost",
      "http://api.localhost",
      "http://[::1]",
      "http://[::ffff:10.0.0.1]",
      "http://10.0.0.8",
      "http://172.20.1.1",
      "http://192.168.0.1",
      "http://169.254.169.254",
      "http://100.64.0.1",
      "http://0.0.0.0",
      "http://[fe80::1]",
      "http://[fd00::1]",
      "http://224.0.0.1",
      "/ip4/127.0.0.1/tcp/80/http",
      "/ip4/192.168.1.5/tcp/80/http",
      "/dns4/localhost/tcp/80/http",
    ]) {
      expect(classifyOrigin(input, false).kind, input).toBe("refused");
    }
  });

  it("admits loopback, and only loopback, when the dev setting allows it", () => {
    expect(classifyOrigin("http://127.0.0.1:8080", true)).toEqual({
      kind: "http",
      origin: "http://127.0.0.1:8080",
    });
    expect(classifyOrigin("/ip4/127.0.0.1/tcp/9/http", true).kind).toBe("http");
    expect(classifyOrigin("http://10.0.0.8", true).kind).toBe("refused");
    expect(classifyOrigin("http://169.254.169.254", true).kind).toBe("refused");
  });
});
