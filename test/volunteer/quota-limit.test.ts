// The words the daemon and the page show for tasks.request's `limited`.
import { describe, expect, it } from 'vitest';
import { describeLimit } from '../../volunteer-core/quota-limit.js';

const MIDNIGHT = Date.UTC(2026, 11, 8);

describe('describeLimit', () => {
  it('tasks in flight: how many it holds of how many, and what raises that', () => {
    expect(describeLimit({ by: 'in_flight', held: 4, allowed: 4 })).toBe('quota: holds 4 of 4 tasks it may have in flight; more as results are validated');
  });

  it('tasks a day: the app, and when the quota day ends (UTC)', () => {
    const primes = { project: 'examples', app: 'primes', allowed: 200, used: 200 };
    expect(describeLimit({ by: 'daily', apps: [primes], resetsAt: MIDNIGHT })).toBe('daily quota of 200 tasks of examples/primes used; resets at 00:00 UTC');
    expect(describeLimit({ by: 'daily', apps: [primes, { project: 'climate', app: 'model', allowed: 50, used: 50 }], resetsAt: MIDNIGHT })).toBe(
      'daily quotas used (examples/primes 200 of 200, climate/model 50 of 50); resets at 00:00 UTC',
    );
  });
});
