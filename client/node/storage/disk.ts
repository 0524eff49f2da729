import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { CID } from "multiformats/cid";

/**
 * A storage provider's disk (issue 8): everything survives a restart because nothing lives only
 * in memory.
 *
 *   DIR/blocks/<cid>          one file per block, exactly the bytes that hash to the CID
 *   DIR/pins/<cid>.json       an assignment: its BLAKE3 root, size, status and `segments` (where
 *                             each byte range of the proof stream lives: block, offset in it)
 *   DIR/pins/<cid>.outboard   the stream's BLAKE3 outboard (wasm `outboard`): proofs without hashing
 *
 * Files are written to a temporary name and renamed, so a crash leaves either the old file or the
 * new one. Blocks shared by several pins are stored once and removed with the last pin using them.
 */
export interface Segment {
  /** The block holding these bytes. */
  cid: string;
  /** Where they start in the block. */
  at: number;
  /** How many. */
  length: number;
}

export interface PinRecord {
  cid: string;
  blake3: string;
  size: number;
  status: "fetching" | "stored" | "failed";
  detail?: string;
  /** The proof stream, in order (a file's bytes: its leaves' data). */
  segments: Segment[];
  /** Every block of the DAG (what the provider serves and must keep). */
  blocks: string[];
  /** Where the content is fetched from (kept so a restart resumes a fetch). */
  gateway?: string;
}

export class Disk {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, "blocks"), { recursive: true });
    mkdirSync(join(dir, "pins"), { recursive: true });
  }

  hasBlock(cid: string): boolean {
    return existsSync(this.blockPath(cid));
  }

  getBlock(cid: string): Uint8Array | null {
    try {
      return new Uint8Array(readFileSync(this.blockPath(cid)));
    } catch {
      return null;
    }
  }

  putBlock(cid: string, bytes: Uint8Array): void {
    writeAtomic(this.blockPath(cid), bytes);
  }

  /** Bytes [at, at + length) of a block, read without loading the whole block. */
  readBlockRange(cid: string, at: number, length: number): Uint8Array {
    const fd = openSync(this.blockPath(cid), "r");
    try {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, at + done);
        if (n === 0) throw new Error(`block ${cid} is shorter than expected`);
        done += n;
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }

  pin(cid: string): PinRecord | null {
    try {
      return JSON.parse(readFileSync(this.pinPath(cid), "utf8")) as PinRecord;
    } catch {
      return null;
    }
  }

  /** Whether the pin's record is still on disk (cheap: one stat). */
  hasPin(cid: string): boolean {
    return existsSync(this.pinPath(cid));
  }

  pins(): PinRecord[] {
    return list(join(this.dir, "pins"))
      .filter((f) => f.endsWith(".json"))
      .map((f) => this.pin(f.slice(0, -5)))
      .filter((p): p is PinRecord => p !== null);
  }

  savePin(record: PinRecord): void {
    writeAtomic(this.pinPath(record.cid), new TextEncoder().encode(JSON.stringify(record)));
  }

  outboard(cid: string): Uint8Array | null {
    try {
      return new Uint8Array(readFileSync(this.outboardPath(cid)));
    } catch {
      return null;
    }
  }

  saveOutboard(cid: string, outboard: Uint8Array): void {
    writeAtomic(this.outboardPath(cid), outboard);
  }

  /** Drops a pin and the blocks no other pin uses. */
  dropPin(cid: string): void {
    const record = this.pin(cid);
    rmSync(this.pinPath(cid), { force: true });
    rmSync(this.outboardPath(cid), { force: true });
    if (!record) return;
    const kept = new Set(this.pins().flatMap((p) => p.blocks));
    for (const block of record.blocks) {
      if (!kept.has(block)) rmSync(this.blockPath(block), { force: true });
    }
  }

  /** Bytes of blocks and outboards on disk. */
  used(): number {
    let total = 0;
    for (const sub of ["blocks", "pins"]) {
      for (const f of list(join(this.dir, sub))) total += statSync(join(this.dir, sub, f)).size;
    }
    return total;
  }

  private blockPath(cid: string): string {
    // Parsing refuses anything that is not a CID, so a name can never walk out of the directory.
    return join(this.dir, "blocks", CID.parse(cid).toString());
  }

  private pinPath(cid: string): string {
    return join(this.dir, "pins", `${CID.parse(cid).toString()}.json`);
  }

  private outboardPath(cid: string): string {
    return join(this.dir, "pins", `${CID.parse(cid).toString()}.outboard`);
  }
}

/** A directory's entries; none when it is gone (someone wiped the disk: what is gone is gone). */
function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function writeAtomic(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${createHash("sha256").update(path).digest("hex").slice(0, 8)}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}
