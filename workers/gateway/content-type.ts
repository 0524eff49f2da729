/**
 * The `Content-Type` of a deserialized file, part one: from the name's extension when there is one we know,
 * else sniffed from the first bytes (Path Gateway spec, "Content-Type (response header)": "SHOULD
 * perform content type sniffing based on file name ... and magic bytes"). Responses also carry
 * `X-Content-Type-Options: nosniff`, so browsers use exactly this.
 */
export function typeFromName(name: string | undefined): string | undefined {
  const dot = name?.lastIndexOf(".") ?? -1;
  return name && dot >= 0 ? BY_EXTENSION[name.slice(dot + 1).toLowerCase()] : undefined;
}

const TEXT = "; charset=utf-8";
const BY_EXTENSION: Record<string, string> = {
  html: `text/html${TEXT}`,
  htm: `text/html${TEXT}`,
  css: `text/css${TEXT}`,
  js: `text/javascript${TEXT}`,
  mjs: `text/javascript${TEXT}`,
  json: "application/json",
  txt: `text/plain${TEXT}`,
  md: `text/markdown${TEXT}`,
  csv: `text/csv${TEXT}`,
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/vnd.microsoft.icon",
  pdf: "application/pdf",
  wasm: "application/wasm",
  mp4: "video/mp4",
  webm: "video/webm",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  car: "application/vnd.ipld.car",
  woff2: "font/woff2",
  woff: "font/woff",
  glb: "model/gltf-binary",
  gltf: "model/gltf+json",
};

/** Signatures at offset 0 (WHATWG MIME Sniffing, "Matching a MIME type pattern", abridged). */
const MAGIC: Array<[number[], string]> = [
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
  [[0xff, 0xd8, 0xff], "image/jpeg"],
  [[0x47, 0x49, 0x46, 0x38], "image/gif"],
  [[0x25, 0x50, 0x44, 0x46, 0x2d], "application/pdf"],
  [[0x50, 0x4b, 0x03, 0x04], "application/zip"],
  [[0x1f, 0x8b, 0x08], "application/gzip"],
  [[0x00, 0x61, 0x73, 0x6d], "application/wasm"],
  [[0x49, 0x44, 0x33], "audio/mpeg"],
  [[0x4f, 0x67, 0x67, 0x53], "application/ogg"],
  [[0x1a, 0x45, 0xdf, 0xa3], "video/webm"],
];

export function sniff(head: Uint8Array): string {
  for (const [sig, type] of MAGIC) {
    if (sig.every((b, i) => head[i] === b)) return type;
  }
  if (ascii(head, 0, "RIFF") && ascii(head, 8, "WEBP")) return "image/webp";
  if (ascii(head, 4, "ftyp")) return "video/mp4";
  const text = utf8(head);
  if (text === undefined) return "application/octet-stream";
  const start = text.trimStart().slice(0, 256).toLowerCase();
  if (start.startsWith("<!doctype html") || start.startsWith("<html")) return `text/html${TEXT}`;
  if (start.startsWith("<svg") || (start.startsWith("<?xml") && start.includes("<svg")))
    return "image/svg+xml";
  if (start.startsWith("<?xml")) return "application/xml";
  return `text/plain${TEXT}`;
}

function ascii(bytes: Uint8Array, at: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (bytes[at + i] !== s.charCodeAt(i)) return false;
  return bytes.length >= at + s.length;
}

/** The bytes as text if they look like UTF-8 text (a character cut at the end is fine). */
function utf8(head: Uint8Array): string | undefined {
  if (head.length === 0) return "";
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(trimPartial(head));
  } catch {
    return undefined;
  }
  // Control characters other than tab, newline, form feed and carriage return mean binary.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) return undefined;
  }
  return text;
}

/** Drops a UTF-8 sequence cut off by the sniff window. */
function trimPartial(b: Uint8Array): Uint8Array {
  let i = b.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && ((b[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return b;
  const lead = b[i] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? b.subarray(0, i) : b;
}
