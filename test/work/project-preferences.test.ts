// The pure rules behind a volunteer's project preferences; the scheduler applying them is tested
// on the real coordinator in test/integration/volunteer-preferences.test.ts.
import { describe, expect, it } from 'vitest';
import { decayWork, projectAllowed, projectOrder, resolvePreferences, RECENT_WORK_HALF_LIFE_MS } from '../../coordinator/work/project-preferences.js';

const ids: Record<string, number> = { alpha: 1, beta: 2, gamma: 3 };
const resolve = (p: Parameters<typeof resolvePreferences>[0]) => resolvePreferences(p, (name) => ids[name]);

describe('project preferences', () => {
  it('resolves names, ignores unknown ones and keeps the first of a name listed twice', () => {
    const r = resolve({ projects: [{ project: 'beta', share: 0 }, { project: 'nope', share: 7 }, { project: 'beta', share: 900 }] });
    expect([...r.listed]).toEqual([[2, { share: 0, noNewTasks: false }]]);
    expect(r.onlyListed).toBe(false);
  });

  it('allows unlisted projects unless onlyListed, never a noNewTasks one', () => {
    const open = resolve({ projects: [{ project: 'alpha', noNewTasks: true }] });
    expect([1, 2, 3].map((id) => projectAllowed(open, id))).toEqual([false, true, true]);
    const only = resolve({ onlyListed: true, projects: [{ project: 'beta' }, { project: 'alpha', noNewTasks: true }] });
    expect([1, 2, 3].map((id) => projectAllowed(only, id))).toEqual([false, true, false]);
  });

  it('orders by recent work per share, share 0 last, ties by id', () => {
    const r = resolve({ projects: [{ project: 'alpha', share: 300 }, { project: 'gamma', share: 0 }] }); // beta: 100
    expect(projectOrder(r, [3, 2, 1], new Map())).toEqual([1, 2, 3]);
    expect(projectOrder(r, [1, 2, 3], new Map([[1, 300], [2, 50]]))).toEqual([2, 1, 3]);
    expect(projectOrder(r, [1, 2, 3], new Map([[1, 301], [2, 100], [3, 0]]))).toEqual([2, 1, 3]);
  });

  it('halves recent work every half-life, and never grows it when the clock goes back', () => {
    expect(decayWork(8, 0, 2 * RECENT_WORK_HALF_LIFE_MS)).toBe(2);
    expect(decayWork(8, 1000, 0)).toBe(8);
  });
});
