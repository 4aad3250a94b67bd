// A volunteer's credit is the exact sum of its receipts (docs/protocol.md §9): amounts added as
// whole micro-credits, so that a grant and its revocation leave exactly nothing.
import { describe, expect, it } from 'vitest';
import { creditAmount, creditUnits } from '../../protocol/ledger.js';
import { CreditTally } from '../../volunteer-core/credit-receipts.js';

/** What a valid result earned before amounts were multiples of 10⁻⁶. */
const OLD = 0.023148148148148147;

describe('CreditTally', () => {
  it('leaves exactly 0 after three grants and their revocations, where floating-point sums leave 6.9e-18', () => {
    const amounts = [OLD, OLD, OLD, -OLD, -OLD, -OLD];
    expect(amounts.reduce((s, a) => s + a, 0)).toBe(6.938893903907228e-18);
    const tally = new CreditTally();
    for (const amount of amounts) tally.add({ amount });
    expect(tally.total).toBe(0);
  });

  it('adds amounts that are multiples of 10⁻⁶ exactly', () => {
    const tally = new CreditTally();
    for (let i = 0; i < 3; i++) tally.add({ amount: 0.023148 });
    expect(0.023148 * 3).not.toBe(0.069444);
    expect(tally.total).toBe(0.069444);
    tally.add({ amount: -0.000444 }); // a correction to a lower cap
    expect(tally.total).toBe(0.069);
  });
});

describe('creditUnits', () => {
  it('rounds halves away from zero, so that an amount and its negative cancel', () => {
    expect(creditUnits(2.5e-6)).toBe(3);
    expect(creditUnits(-2.5e-6)).toBe(-3);
    expect(creditUnits(OLD)).toBe(23_148);
    expect(creditUnits(-OLD)).toBe(-23_148);
  });

  it('gets back the units of every amount the coordinator writes (micro / 10⁶)', () => {
    for (const micro of [0, 1, 7, 23_148, 999_999, 1_000_001, 123_456_789_012, 2_314_814_814_814_815]) {
      expect(creditUnits(creditAmount(micro))).toBe(micro);
      expect(creditUnits(creditAmount(-micro))).toBe(-micro);
    }
  });
});
