import type { CID } from "multiformats/cid";
import type { DirEntry } from "./resolve.ts";

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The generated directory index (Path Gateway spec, "Generated HTML with directory index"): one
 * row per entry with a relative link (the URL ends in `/`, so `encodeURIComponent(name)` resolves
 * under the directory), the entry's CID and its cumulative DAG size. Names come from content
 * and are escaped; the page has no scripts.
 */
export function directoryListing(ipfsPath: string, cid: CID, entries: readonly DirEntry[]): string {
  const rows = entries
    .map((e) => {
      const href = encodeURIComponent(e.name);
      const size = e.tsize === undefined ? "" : String(e.tsize);
      return `<tr><td><a href="${href}">${escapeHtml(e.name)}</a></td><td><code>${e.cid}</code></td><td>${size}</td></tr>`;
    })
    .join("\n");
  const title = escapeHtml(decodeSafe(ipfsPath));
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem}td{padding:.2rem .8rem}code{font-size:12px;color:#555}</style></head>
<body>
<h1>Index of ${title}</h1>
<p>Directory <code>${cid}</code>, ${entries.length} entr${entries.length === 1 ? "y" : "ies"}</p>
<table>
<thead><tr><th>Name</th><th>CID</th><th>Size</th></tr></thead>
<tbody>
<tr><td><a href="..">..</a></td><td></td><td></td></tr>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

function decodeSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
