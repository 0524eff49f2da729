import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";

/**
 * UnixFS file import with the parameters of Kubo's `unixfs-v1-2025` profile, so a file's CID here
 * equals `ipfs add --profile unixfs-v1-2025` (and ipfs-unixfs-importer with the same options):
 * CIDv1, raw leaves of 1 MiB fixed-size chunks, a balanced DAG of at most 1024 links per node,
 * and a file of one chunk is just that raw leaf.
 *
 * It streams: at most one chunk and one pending row of links per tree level are in memory, and
 * every block goes to `sink` as soon as it is made. The tree is built bottom-up the way the
 * balanced layout defines it: leaves are grouped in runs of 1024 under a parent, those parents in
 * runs of 1024, and so on; at the end each partial run gets a parent of its own, and the single
 * node left at the top is the root.
 */
export const CHUNK_SIZE = 1024 * 1024;
export const MAX_LINKS = 1024;

export type BlockSink = (cid: CID, bytes: Uint8Array) => Promise<void>;

/** A node of the tree under construction, as its parent needs it. */
interface Entry {
  cid: CID;
  /** Bytes of file content below this node (UnixFS `blocksizes` of the parent). */
  fileSize: number;
  /** Bytes of every block in this node's DAG (dag-pb `Tsize` of the parent's link). */
  dagSize: number;
}

export interface ImportedFile {
  cid: CID;
  /** File length in bytes. */
  size: number;
  /** Blocks written, leaves and parents. */
  blocks: number;
  /** Sum of the blocks' lengths: what storing this file costs. */
  dagSize: number;
}

export class FileImporter {
  private readonly levels: Entry[][] = [[]];
  private pending = new Uint8Array(CHUNK_SIZE);
  private pendingLength = 0;
  private size = 0;
  private blocks = 0;
  private dagSize = 0;
  private chunks = 0;

  constructor(
    private readonly sink: BlockSink,
    private readonly onChunk?: (chunk: Uint8Array) => void,
  ) {}

  /** Feeds the next bytes of the file. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const take = Math.min(CHUNK_SIZE - this.pendingLength, bytes.length - offset);
      this.pending.set(bytes.subarray(offset, offset + take), this.pendingLength);
      this.pendingLength += take;
      offset += take;
      if (this.pendingLength === CHUNK_SIZE) await this.flushChunk();
    }
  }

  /** Ends the file and returns its root. */
  async close(): Promise<ImportedFile> {
    // An empty file is one empty chunk, like every fixed-size chunker emits.
    if (this.pendingLength > 0 || this.chunks === 0) await this.flushChunk();
    const root = await this.finishTree();
    return { cid: root.cid, size: this.size, blocks: this.blocks, dagSize: this.dagSize };
  }

  private async flushChunk(): Promise<void> {
    const chunk = this.pending.slice(0, this.pendingLength);
    this.pendingLength = 0;
    this.chunks++;
    this.size += chunk.length;
    this.onChunk?.(chunk);
    const cid = CID.createV1(raw.code, await sha256.digest(chunk));
    await this.emit(cid, chunk);
    await this.push(0, { cid, fileSize: chunk.length, dagSize: chunk.length });
  }

  private async push(level: number, entry: Entry): Promise<void> {
    const row = this.levels[level] ?? [];
    this.levels[level] = row;
    row.push(entry);
    if (row.length === MAX_LINKS) {
      this.levels[level] = [];
      await this.push(level + 1, await this.parent(row));
    }
  }

  private async finishTree(): Promise<Entry> {
    // A file of one chunk is its raw leaf (reduceSingleLeafToSelf).
    if (this.chunks === 1) {
      const only = this.levels[0]?.[0];
      if (!only) throw new Error("unreachable: one chunk but no leaf");
      return only;
    }
    for (let level = 0; ; level++) {
      const row = this.levels[level] ?? [];
      const above = this.levels.slice(level + 1).some((r) => r.length > 0);
      if (!above && row.length === 1 && level > 0) return row[0] as Entry;
      if (row.length > 0) {
        this.levels[level] = [];
        const node = await this.parent(row);
        if (!above) return node;
        await this.push(level + 1, node);
      }
    }
  }

  /** A dag-pb UnixFS `file` node linking `children` in order. */
  private async parent(children: Entry[]): Promise<Entry> {
    const unixfs = new UnixFS({ type: "file" });
    const links: dagPb.PBLink[] = [];
    for (const child of children) {
      if (child.fileSize === 0) continue; // empty leaves carry nothing
      unixfs.addBlockSize(BigInt(child.fileSize));
      links.push({ Name: "", Tsize: child.dagSize, Hash: child.cid });
    }
    const bytes = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal(), Links: links }));
    const cid = CID.createV1(dagPb.code, await sha256.digest(bytes));
    await this.emit(cid, bytes);
    const fileSize = children.reduce((n, c) => n + c.fileSize, 0);
    const dagSize = bytes.length + links.reduce((n, l) => n + (l.Tsize ?? 0), 0);
    return { cid, fileSize, dagSize };
  }

  private async emit(cid: CID, bytes: Uint8Array): Promise<void> {
    this.blocks++;
    this.dagSize += bytes.length;
    await this.sink(cid, bytes);
  }
}

/** Imports a whole stream as one UnixFS file. */
export async function importFile(
  stream: ReadableStream<Uint8Array>,
  sink: BlockSink,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<ImportedFile> {
  const importer = new FileImporter(sink, onChunk);
  for await (const piece of stream) await importer.write(piece);
  return importer.close();
}
