import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import type { BlockSink } from "../../durable-objects/storage/unixfs-import.ts";

/**
 * Plain (non-sharded) UnixFS directories, built from file paths the way `ipfs add -r` does:
 * one dag-pb `directory` node per folder, links sorted by name (dag-pb's canonical order), each
 * link's Tsize the whole size of the child's DAG.
 *
 * Kubo's unixfs-v1-2025 profile switches a directory to a HAMT once its node would pass 256 KiB;
 * HAMT directories are not built here, so such a directory is refused (upload it as a CAR).
 */
export const HAMT_THRESHOLD_BYTES = 256 * 1024;

export interface DirEntry {
  /** Slash-separated path below the root, e.g. `docs/readme.md`. */
  path: string;
  cid: CID;
  /** Bytes of every block in the entry's DAG. */
  dagSize: number;
}

export class DirectoryTooLarge extends Error {
  constructor(readonly path: string) {
    super(`directory "${path || "/"}" is too large for a single node`);
  }
}

export class PathConflict extends Error {
  constructor(readonly path: string) {
    super(`"${path}" is both a file and a folder`);
  }
}

interface Folder {
  files: Map<string, DirEntry>;
  folders: Map<string, Folder>;
}

/** Checks one relative path: no empty, `.` or `..` segments, no leading slash. */
export function validPath(path: string): boolean {
  if (path.length === 0 || path.length > 4096 || path.startsWith("/")) return false;
  return path.split("/").every((s) => s !== "" && s !== "." && s !== ".." && !s.includes("\0"));
}

/** Builds the directory tree holding `entries`; returns the root directory's CID and DAG size. */
export async function buildDirectory(
  entries: DirEntry[],
  sink: BlockSink,
): Promise<{ cid: CID; dagSize: number }> {
  const root: Folder = { files: new Map(), folders: new Map() };
  for (const entry of entries) {
    const parts = entry.path.split("/");
    const name = parts.pop() as string;
    let folder = root;
    for (const part of parts) {
      let next = folder.folders.get(part);
      if (!next) {
        next = { files: new Map(), folders: new Map() };
        folder.folders.set(part, next);
      }
      folder = next;
    }
    folder.files.set(name, entry);
  }
  return writeFolder(root, "", sink);
}

async function writeFolder(folder: Folder, path: string, sink: BlockSink) {
  const links: dagPb.PBLink[] = [];
  for (const [name, sub] of folder.folders) {
    const child = await writeFolder(sub, path ? `${path}/${name}` : name, sink);
    links.push({ Name: name, Tsize: child.dagSize, Hash: child.cid });
  }
  for (const [name, file] of folder.files) {
    if (folder.folders.has(name)) throw new PathConflict(path ? `${path}/${name}` : name);
    links.push({ Name: name, Tsize: file.dagSize, Hash: file.cid });
  }
  const node = dagPb.prepare({ Data: new UnixFS({ type: "directory" }).marshal(), Links: links });
  const bytes = dagPb.encode(node);
  if (bytes.length > HAMT_THRESHOLD_BYTES) throw new DirectoryTooLarge(path);
  const cid = CID.createV1(dagPb.code, await sha256.digest(bytes));
  await sink(cid, bytes);
  return { cid, dagSize: bytes.length + links.reduce((n, l) => n + (l.Tsize ?? 0), 0) };
}
