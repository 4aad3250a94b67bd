// The page's status line says which of the browser's quotas keeps work back, in the daemon's
// words (volunteer-core/quota-limit.ts), and plain "no work" when none does.
import { describe, expect, it } from 'vitest';
import { describeLimit } from '../../volunteer-core/quota-limit.js';
import { computingNote, waitingLine } from '../../volunteer-web/src/waiting-words.js';

describe('the page’s status while work is held back', () => {
  it('waiting: the quota when the coordinator named one, else no work', () => {
    expect(waitingLine(undefined)).toBe('Connected. There is no work right now; checking again shortly.');
    const daily = describeLimit({ by: 'daily', apps: [{ project: 'examples', app: 'primes', allowed: 8, used: 8 }], resetsAt: Date.UTC(2026, 0, 2) });
    expect(waitingLine(daily)).toBe('Connected. No more tasks for now: daily quota of 8 tasks of examples/primes used; resets at 00:00 UTC.');
  });

  it('computing on fewer tasks than it could: why more wait', () => {
    const inFlight = describeLimit({ by: 'in_flight', held: 2, allowed: 2 });
    expect(computingNote(inFlight)).toBe(' More tasks later: quota: holds 2 of 2 tasks it may have in flight; more as results are validated.');
    expect(computingNote(undefined)).toBe('');
  });
});
