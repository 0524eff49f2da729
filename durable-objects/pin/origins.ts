/**
 * A pin's `origins` (Pinning Service API, "Provider Hints") turned into trustless gateways the
 * `Pin` object may fetch blocks from: `http(s)://host[:port]` URLs, and multiaddrs that end in
 * HTTP (`/dns4/example.org/tcp/443/https`, `/ip4/203.0.113.7/tcp/8080/http`,
 * `/dns/example.org/tcp/443/tls/http`, any `/p2p/…` suffix ignored). Other multiaddrs (bitswap
 * peers) are valid hints this service cannot use: they are kept on the pin and skipped.
 *
 * Origins are client-chosen targets for the Worker's `fetch`, so addresses in loopback,
 * link-local, private, CGNAT or unspecified ranges are refused (SSRF). Host names are not
 * resolved here (workerd has no DNS lookup); `localhost` and `*.localhost` are treated as loopback.
 * `PIN_ALLOW_LOOPBACK_ORIGINS` (dev only) admits loopback, for local tests with real servers.
 */
export type OriginVerdict =
  | { kind: "http"; origin: string }
  | { kind: "unusable"; reason: string }
  | { kind: "refused"; reason: string };

export function classifyOrigin(value: string, allowLoopback: boolean): OriginVerdict {
  const target = value.startsWith("/") ? fromMultiaddr(value) : fromUrl(value);
  if ("reason" in target) return { kind: "unusable", reason: target.reason };
  const range = forbiddenRange(target.host);
  if (range && !(range === "loopback" && allowLoopback)) {
    return { kind: "refused", reason: `origin ${value} is a ${range} address` };
  }
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  const port = target.port === (target.scheme === "https" ? 443 : 80) ? "" : `:${target.port}`;
  return { kind: "http", origin: `${target.scheme}://${host}${port}` };
}

interface Target {
  scheme: "http" | "https";
  host: string;
  port: number;
}

function fromUrl(value: string): Target | { reason: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { reason: `${value} is neither a URL nor a multiaddr` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { reason: `${value} is not an http(s) gateway` };
  }
  if (url.username || url.password) return { reason: `${value} carries credentials` };
  const scheme = url.protocol === "https:" ? "https" : "http";
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return { scheme, host, port: Number(url.port || (scheme === "https" ? 443 : 80)) };
}

function fromMultiaddr(value: string): Target | { reason: string } {
  const parts = value.split("/").slice(1);
  const [proto, host, tcp, port, ...rest] = parts;
  const hostProtos = ["ip4", "ip6", "dns", "dns4", "dns6"];
  if (!proto || !host || !hostProtos.includes(proto) || tcp !== "tcp" || !port) {
    return { reason: `${value} is not a TCP multiaddr` };
  }
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return { reason: `${value} has a bad port` };
  const tail = rest.slice(0, rest.indexOf("p2p") === -1 ? rest.length : rest.indexOf("p2p"));
  const joined = tail.join("/");
  const scheme =
    joined === "https" || joined === "tls/http" ? "https" : joined === "http" ? "http" : null;
  if (!scheme)
    return { reason: `${value} is not an HTTP transport (bitswap peers are not dialled)` };
  return { scheme, host: host.toLowerCase(), port: n };
}

/** The forbidden range a literal address or special name falls in, else `undefined`. */
export function forbiddenRange(host: string): string | undefined {
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  const v4 = parseIpv4(host);
  if (v4) {
    const [a, b] = v4;
    if (a === 127) return "loopback";
    if (a === 0) return "unspecified";
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
    if (a === 169 && b === 254) return "link-local";
    if (a === 100 && b >= 64 && b <= 127) return "shared (CGNAT)";
    if (a >= 224) return "multicast or reserved";
    return undefined;
  }
  if (host.includes(":")) {
    const h = host.toLowerCase();
    if (h === "::1") return "loopback";
    if (h === "::") return "unspecified";
    if (/^fe[89ab]/.test(h)) return "link-local";
    if (/^f[cd]/.test(h)) return "private";
    if (/^ff/.test(h)) return "multicast or reserved";
    // IPv4-mapped (::ffff:a.b.c.d, which URL parsing turns into ::ffff:XXXX:XXXX).
    const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (dotted?.[1]) return forbiddenRange(dotted[1]);
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
    if (hex?.[1] && hex[2]) {
      const hi = Number.parseInt(hex[1], 16);
      const lo = Number.parseInt(hex[2], 16);
      return forbiddenRange(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`);
    }
    return undefined;
  }
  return undefined;
}

function parseIpv4(host: string): [number, number, number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number) as [number, number, number, number];
  return octets.every((o) => o <= 255) ? octets : undefined;
}
