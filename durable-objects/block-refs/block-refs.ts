import { DurableObject } from "cloudflare:workers";
import { migrate } from "../sql.ts";

/**
 * Reference counts for stored blocks, so a block is deleted exactly when nothing needs it.
 *
 * Blocks are shared: two accounts uploading the same bytes store one R2 object. Each writer
 * (an upload attempt, later a pin) registers itself as an owner of every block *before* putting
 * it, and unregisters when it is deleted or fails. The last unregistration deletes the R2 object,
 * inside `blockConcurrencyWhile`, so no `addRefs` can slip between "count reached zero" and the
 * delete and then see its freshly written block disappear.
 *
 * Sharded by the first hex digit of the multihash digest (`refs:0` to `refs:f`): see `shardOf`
 * in durable-objects/storage/writer.ts.
 */
export interface BlockRefsEnv {
  BLOCKS: R2Bucket;
}

const MIGRATIONS = [
  `CREATE TABLE refs (
     block  TEXT NOT NULL,  -- R2 key of the block
     owner  TEXT NOT NULL,  -- e.g. "upload:upl_..."
     PRIMARY KEY (block, owner)
   ) WITHOUT ROWID;
   CREATE INDEX refs_owner ON refs (owner);`,
] as const;

export class BlockRefs extends DurableObject<BlockRefsEnv> {
  constructor(ctx: DurableObjectState, env: BlockRefsEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /** Registers `owner` on each block (idempotent). Call before writing the blocks. */
  addRefs(owner: string, blocks: string[]): void {
    this.ctx.storage.transactionSync(() => {
      for (const block of blocks) {
        this.ctx.storage.sql.exec(
          "INSERT OR IGNORE INTO refs (block, owner) VALUES (?, ?)",
          block,
          owner,
        );
      }
    });
  }

  /**
   * Unregisters `owner` from each block and deletes the blocks nobody else owns.
   * Returns the keys deleted.
   */
  async removeRefs(owner: string, blocks: string[]): Promise<string[]> {
    const orphaned = this.ctx.storage.transactionSync(() => {
      const gone: string[] = [];
      for (const block of blocks) {
        this.ctx.storage.sql.exec("DELETE FROM refs WHERE block = ? AND owner = ?", block, owner);
        const left = this.ctx.storage.sql
          .exec<{ n: number }>("SELECT COUNT(*) AS n FROM refs WHERE block = ?", block)
          .one().n;
        if (left === 0) gone.push(block);
      }
      return gone;
    });
    if (orphaned.length > 0) {
      await this.ctx.blockConcurrencyWhile(async () => {
        // R2 deletes at most 1,000 keys a call.
        for (let i = 0; i < orphaned.length; i += 1000) {
          await this.env.BLOCKS.delete(orphaned.slice(i, i + 1000));
        }
      });
    }
    return orphaned;
  }

  /** How many owners each block has (for tests and audits). */
  counts(blocks: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const block of blocks) {
      out[block] = this.ctx.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM refs WHERE block = ?", block)
        .one().n;
    }
    return out;
  }
}
