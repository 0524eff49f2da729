import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Ledger, type LedgerResult } from "../../durable-objects/account/ledger.ts";
import type { Micros } from "../../protocol/money.ts";

/**
 * The money core against a model: for any sequence of credits, debits, holds, captures and
 * releases, retries of earlier operations included, the ledger answers as the model does, its
 * balances equal the journal's sums and the open holds, and nothing ever goes negative.
 */
type Op =
  | { kind: "credit" | "debit"; opId: string; amount: number }
  | { kind: "hold"; holdId: string; amount: number }
  | { kind: "capture"; holdId: string; amount: number; opId: string }
  | { kind: "release"; holdId: string; opId: string };

const opId = fc.constantFrom("op1", "op2", "op3", "op4", "op5", "op6");
const holdId = fc.constantFrom("h1", "h2", "h3");
const amount = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 5_000_000 }));

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("credit" as const), opId, amount }),
  fc.record({ kind: fc.constant("debit" as const), opId, amount }),
  fc.record({ kind: fc.constant("hold" as const), holdId, amount }),
  fc.record({ kind: fc.constant("capture" as const), holdId, amount, opId }),
  fc.record({ kind: fc.constant("release" as const), holdId, opId }),
);

/** Sequences with retries: some operations are repeated verbatim later in the sequence. */
const sequence = fc
  .tuple(fc.array(op, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }))
  .map(([ops, repeats]) => {
    const out = [...ops];
    for (const r of repeats) {
      const again = ops[r % Math.max(ops.length, 1)];
      if (again) out.splice(r % (out.length + 1), 0, again);
    }
    return out;
  });

/** The reference: what each operation should answer, written as plainly as possible. */
class Model {
  available = 0;
  held = 0;
  journal = new Map<string, string>();
  holds = new Map<string, { amount: number; captured: number; open: boolean }>();

  apply(o: Op): { ok: true } | { ok: false; code: string } {
    const id = o.kind === "hold" ? `hold:${o.holdId}` : o.opId;
    const sig = JSON.stringify({
      ...o,
      opId: undefined,
      amount: o.kind === "release" ? 0 : o.amount,
    });
    const prior = this.journal.get(id);
    if (prior !== undefined)
      return prior === sig ? { ok: true } : { ok: false, code: "operation_id_reused" };
    const fail = (code: string) => ({ ok: false as const, code });
    switch (o.kind) {
      case "credit":
        this.available += o.amount;
        break;
      case "debit":
        if (o.amount > this.available) return fail("insufficient_funds");
        this.available -= o.amount;
        break;
      case "hold":
        if (o.amount > this.available) return fail("insufficient_funds");
        this.available -= o.amount;
        this.held += o.amount;
        this.holds.set(o.holdId, { amount: o.amount, captured: 0, open: true });
        break;
      case "capture": {
        const h = this.holds.get(o.holdId);
        if (!h) return fail("hold_not_found");
        if (!h.open) return fail("hold_closed");
        if (o.amount > h.amount - h.captured) return fail("capture_exceeds_hold");
        h.captured += o.amount;
        this.held -= o.amount;
        break;
      }
      case "release": {
        const h = this.holds.get(o.holdId);
        if (!h) return fail("hold_not_found");
        if (!h.open) return fail("hold_closed");
        h.open = false;
        this.available += h.amount - h.captured;
        this.held -= h.amount - h.captured;
        break;
      }
    }
    this.journal.set(id, sig);
    return { ok: true };
  }
}

function run(ledger: Ledger, o: Op): LedgerResult {
  const amt = (o.kind === "release" ? 0 : o.amount) as Micros;
  switch (o.kind) {
    case "credit":
      return ledger.credit(o.opId, amt);
    case "debit":
      return ledger.debit(o.opId, amt);
    case "hold":
      return ledger.hold(o.holdId, amt);
    case "capture":
      return ledger.capture(o.holdId, amt, o.opId);
    case "release":
      return ledger.release(o.holdId, o.opId);
  }
}

describe("money core (property)", () => {
  it("keeps balances equal to the journal for 1,000 random operation sequences", async () => {
    const stub = env.ACCOUNT.get(env.ACCOUNT.newUniqueId());
    const runs = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      let count = 0;
      fc.assert(
        fc.property(sequence, (ops) => {
          count++;
          // A fresh, empty ledger for every sequence.
          sql.exec(
            "DELETE FROM journal; DELETE FROM holds; UPDATE balance SET available = 0, held = 0",
          );
          const ledger = new Ledger(state.storage);
          const model = new Model();
          for (const o of ops) {
            const got = run(ledger, o);
            const want = model.apply(o);
            expect(got.ok ? { ok: true } : { ok: false, code: got.code }).toEqual(want);
            const bal = ledger.balance();
            expect(bal).toEqual({ available: model.available, held: model.held });
            expect(ledger.journalSums()).toEqual(bal);
            expect(ledger.openHoldsTotal()).toBe(bal.held);
            expect(bal.available).toBeGreaterThanOrEqual(0);
            expect(bal.held).toBeGreaterThanOrEqual(0);
          }
        }),
        { numRuns: 1000 },
      );
      return count;
    });
    expect(runs).toBeGreaterThanOrEqual(1000);
  });
});
