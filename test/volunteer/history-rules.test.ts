// The rules behind the volunteer page's task list, credit chart, schedule and project choices
// (volunteer-core/task-history.ts, credit-history.ts, schedule.ts, project-choices.ts): pure, so
// checked directly.
import { describe, expect, it } from 'vitest';
import { creditSeries, DAY_MS, racAt } from '../../volunteer-core/credit-history.js';
import { defaultChoice, preferencesFor, type ProjectChoice } from '../../volunteer-core/project-choices.js';
import { scheduleBlocks, type Schedule } from '../../volunteer-core/schedule.js';
import { acknowledged, awaitingVerdict, creditOutcomes, explainError, finishedRun, judged, overflow, recordFor, remainingMs, type TaskRecord } from '../../volunteer-core/task-history.js';

const task = (taskId: number, app = 'a') => ({ taskId, workunitId: taskId, project: 'p', app, deadline: 0 });

describe('task history', () => {
  it('follows a task from fetched to reported and validated, or to an error with its message', () => {
    const r = recordFor(task(1), 100);
    expect(r).toMatchObject({ state: 'fetched', elapsedMs: 0, progress: 0 });
    const ok = finishedRun({ ...r, elapsedMs: 1_000 }, { elapsedMs: 500 }, 200);
    expect(ok).toMatchObject({ state: 'reporting', elapsedMs: 1_500, progress: 1, finishedAt: 200 });
    expect(acknowledged(ok, { status: 'accepted' }, 300).state).toBe('pending');
    const failed = finishedRun(r, { elapsedMs: 10, error: { code: 'cpu_limit', message: 'too long' } }, 200);
    expect(acknowledged(failed, { status: 'accepted' }, 300)).toMatchObject({ state: 'error', error: { code: 'cpu_limit', message: 'too long' } });
    const late = acknowledged(ok, { status: 'rejected', error: { code: 'workunit_finished', message: 'done' } }, 300);
    expect(late).toMatchObject({ state: 'not_taken', error: { code: 'workunit_finished' } });
    expect(explainError('workunit_finished')).toMatch(/other volunteers had finished/);
    expect(explainError('something new')).toMatch(/another volunteer/);
  });

  it('reads valid and invalid from receipts: a grant, and a revocation that takes everything back', () => {
    const out = creditOutcomes([
      { taskId: 1, amount: 2 },
      { taskId: 2, amount: 3 },
      { taskId: 2, amount: -3 },
      { taskId: 3, amount: 5 },
      { taskId: 3, amount: -1 }, // a correction to a lower cap: still valid
    ]);
    expect(Object.fromEntries(out)).toEqual({ 1: { state: 'valid', credit: 2 }, 2: { state: 'invalid', credit: 0 }, 3: { state: 'valid', credit: 4 } });
  });

  it('marks a reported result invalid when it lost its quorum vote, told before its acknowledgement or after; nothing else moves', () => {
    const done = finishedRun(recordFor(task(1), 100), { elapsedMs: 500 }, 200);
    const pending = acknowledged(done, { status: 'accepted' }, 300);
    expect(awaitingVerdict([pending, done, { taskId: 2, state: 'valid' }])).toEqual([1]);
    expect(judged(pending, 'invalid').state).toBe('invalid');
    expect(judged(pending, 'valid').state).toBe('valid');
    for (const v of ['pending', 'unknown', 'error'] as const) expect(judged(pending, v)).toBe(pending);
    // Pushed before the report's acknowledgement: the acknowledgement keeps it.
    expect(acknowledged(judged(done, 'invalid'), { status: 'accepted' }, 300).state).toBe('invalid');
    // An error result, or a task over otherwise, is what it is.
    const failed = acknowledged(finishedRun(recordFor(task(3), 100), { elapsedMs: 1, error: { code: 'cpu_limit', message: 'x' } }, 200), { status: 'accepted' }, 300);
    expect(judged(failed, 'invalid')).toBe(failed);
    const valid = { ...pending, state: 'valid' as const, credit: 2 };
    expect(judged(valid, 'invalid')).toBe(valid);
    // Receipts have the last word: a result judged again and credited after all is valid.
    const [outcome] = creditOutcomes([{ taskId: 1, amount: 2 }]).values();
    expect(outcome).toEqual({ state: 'valid', credit: 2 });
  });

  it('estimates the time left from progress, else from the same app’s finished tasks', () => {
    expect(remainingMs({ app: 'a', state: 'running', progress: 0.25 }, 1_000, [])).toBe(3_000);
    const done = [30_000, 10_000, 20_000].map((elapsedMs, i): TaskRecord => ({ ...recordFor(task(10 + i), 0), state: 'valid', elapsedMs }));
    expect(remainingMs({ app: 'a', state: 'fetched', progress: 0 }, 0, done)).toBe(20_000);
    expect(remainingMs({ app: 'b', state: 'fetched', progress: 0 }, 0, done)).toBeUndefined();
    expect(remainingMs({ app: 'a', state: 'valid', progress: 1 }, 5, done)).toBeUndefined();
  });

  it('drops the oldest finished records past the bound, never a task still held', () => {
    const records = [
      { ...recordFor(task(1), 1), state: 'running' as const },
      { ...recordFor(task(2), 2), state: 'valid' as const, finishedAt: 5 },
      { ...recordFor(task(3), 3), state: 'error' as const, finishedAt: 4 },
      { ...recordFor(task(4), 4), state: 'fetched' as const },
    ];
    expect(overflow(records, 4)).toEqual([]);
    expect(overflow(records, 3)).toEqual([3]);
    expect(overflow(records, 1)).toEqual([3, 2]);
  });
});

describe('credit over time', () => {
  const now = Date.UTC(2026, 0, 10, 12);
  it('adds up each day’s credit per project, and the recent average as the coordinator computes it', () => {
    const receipts = [
      { taskId: 1, amount: 10, grantedAt: Date.UTC(2026, 0, 8, 9) },
      { taskId: 2, amount: 4, grantedAt: Date.UTC(2026, 0, 9, 9) },
      { taskId: 3, amount: 1, grantedAt: Date.UTC(2026, 0, 10, 9) },
      { taskId: 2, amount: -4, grantedAt: Date.UTC(2026, 0, 10, 10) },
    ];
    const s = creditSeries(receipts, { now, days: 4, projectOf: (id) => (id === 1 ? 'A' : id === 2 ? 'B' : undefined) });
    expect(s.days).toEqual([7, 8, 9, 10].map((d) => Date.UTC(2026, 0, d)));
    expect(s.total).toEqual([0, 10, 14, 11]);
    expect(s.projects.map((p) => [p.project, p.total])).toEqual([
      ['A', [0, 10, 10, 10]],
      ['unknown project', [0, 0, 0, 1]],
      ['B', [0, 0, 4, 0]],
    ]);
    expect(s.rac[3]).toBeCloseTo(racAt(receipts, now), 12);
    expect(s.rac[0]).toBe(0);
    // One credit a day for ever comes to a RAC of about 1 a day (a lump each day, not a steady
    // flow, so 5% over: the latest lump has not decayed yet).
    const steady = Array.from({ length: 400 }, (_, i) => ({ amount: 1, grantedAt: now - i * DAY_MS }));
    expect(racAt(steady, now)).toBeGreaterThan(1);
    expect(racAt(steady, now)).toBeLessThan(1.06);
  });
});

describe('schedule', () => {
  const at = (hour: number, lastInputAt = 0, systemIdle?: boolean) => ({ now: 600_000, hour, lastInputAt, ...(systemIdle === undefined ? {} : { systemIdle }) });
  const hours = (fromHour: number, toHour: number): Schedule => ({ mode: 'hours', fromHour, toHour, idleMinutes: 5 });
  it('computes only in the chosen hours, across midnight too', () => {
    expect(scheduleBlocks(hours(9, 17), at(9))).toBeUndefined();
    expect(scheduleBlocks(hours(9, 17), at(17))).toBe('outside your computing hours (09:00–17:00)');
    expect(scheduleBlocks(hours(22, 7), at(23))).toBeUndefined();
    expect(scheduleBlocks(hours(22, 7), at(3))).toBeUndefined();
    expect(scheduleBlocks(hours(22, 7), at(12))).toBe('outside your computing hours (22:00–07:00)');
    expect(scheduleBlocks(hours(8, 8), at(12))).toBeUndefined();
  });

  it('computes only when idle: the system’s word where the browser gives it, else the time since input here', () => {
    const idle: Schedule = { mode: 'idle', fromHour: 0, toHour: 0, idleMinutes: 5 };
    expect(scheduleBlocks(idle, at(12, 400_000))).toBe('you are using this computer');
    expect(scheduleBlocks(idle, at(12, 300_000))).toBeUndefined();
    expect(scheduleBlocks(idle, at(12, 599_000, true))).toBeUndefined();
    expect(scheduleBlocks(idle, at(12, 0, false))).toBe('you are using this computer');
    expect(scheduleBlocks({ ...idle, mode: 'always' }, at(12, 599_000, false))).toBeUndefined();
  });
});

describe('project choices', () => {
  const c = (over: Partial<ProjectChoice> = {}): ProjectChoice => ({ ...defaultChoice(), ...over });
  it('says nothing while every project computes at the default share', () => {
    expect(preferencesFor({}, true)).toBeUndefined();
    expect(preferencesFor({ A: c(), B: c({ suspended: true }) }, true)).toBeUndefined();
  });

  it('names shares and no new tasks; a project not computed for is sent no new tasks', () => {
    expect(preferencesFor({ B: c({ noNewTasks: true }), A: c({ share: 300 }), C: c({ enabled: false, share: 5 }) }, true)).toEqual({
      projects: [{ project: 'A', share: 300 }, { project: 'B', noNewTasks: true }, { project: 'C', noNewTasks: true }],
    });
  });

  it('lists only the chosen projects when projects not chosen get nothing', () => {
    expect(preferencesFor({ A: c(), B: c({ enabled: false }), C: c({ share: 0 }) }, false)).toEqual({ projects: [{ project: 'A' }, { project: 'C', share: 0 }], onlyListed: true });
    expect(preferencesFor({}, false)).toEqual({ projects: [], onlyListed: true });
  });

  it('keeps within the protocol’s 64 projects, the chosen ones first', () => {
    const many = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`p${String(i).padStart(2, '0')}`, c(i < 10 ? { noNewTasks: true } : { share: 50 })]));
    const prefs = preferencesFor(many, true)!;
    expect(prefs.projects).toHaveLength(64);
    expect(prefs.projects!.filter((p) => p.noNewTasks)).toHaveLength(4);
  });
});
