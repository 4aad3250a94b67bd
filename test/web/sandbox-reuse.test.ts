// The page's rule for keeping a sandbox worker for the next task (volunteer-web/src/sandbox/reuse.ts),
// as a pure function; test/web/volunteer-page.test.ts checks it in Chromium.
import { describe, expect, it } from 'vitest';
import { afterDrain, fits, MAX_TASKS_PER_WORKER, mayKeep } from '../../volunteer-web/src/sandbox/reuse.js';

describe('when a page sandbox worker runs another task', () => {
  it('only after a task whose run returned by itself', () => {
    expect(mayKeep({ ok: true })).toBe(true);
    for (const code of ['app_exception', 'bad_output', 'app_load_failed', 'app_exit', 'bad_input']) expect(mayKeep({ ok: false, code })).toBe(true);
    // Stopped by the page (its worker terminated), or over a limit the runtime checks.
    for (const code of ['cpu_limit', 'app_stalled', 'aborted', 'suspended', 'worker_crashed', 'checkpoint_limit', 'anything new']) {
      expect(mayKeep({ ok: false, code })).toBe(false);
    }
  });

  it('only once the worker has drained, with no compilation left, and not too many tasks', () => {
    expect(afterDrain({ leftPending: 0 }, 1)).toEqual({ keep: true });
    expect(afterDrain({ leftPending: 0 }, MAX_TASKS_PER_WORKER - 1)).toEqual({ keep: true });
    expect(afterDrain({ leftPending: 1 }, 1)).toEqual({ keep: false, leftover: 'left a WebAssembly compilation running' });
    expect(afterDrain('late', 1)).toEqual({ keep: false, leftover: 'kept computing' });
    // Routine: nothing the task did, so nothing to tell the volunteer.
    expect(afterDrain({ leftPending: 0 }, MAX_TASKS_PER_WORKER)).toEqual({ keep: false, leftover: undefined });
  });

  it('only for the app version it ran', () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    expect(fits(undefined, a)).toBe(true); // a fresh worker takes any
    expect(fits(a, a)).toBe(true);
    expect(fits(a, b)).toBe(false);
  });
});
