// Why an open batch cannot move, as a pure function of the facts.
import { describe, expect, it } from 'vitest';
import { blockedReasons, type BlockFacts } from '../../coordinator/research/batch-blocked.js';

const MOVING: BlockFacts = {
  open: 10,
  projectPaused: false,
  versions: [{ version: 1, broken: null }],
  pinned: false,
  replicas: { unsent: 5, inProgress: 3, success: 4, clientError: 0 },
  onlineHosts: 3,
  takers: 3,
  topError: undefined,
};
const codes = (f: Partial<BlockFacts>) => blockedReasons({ ...MOVING, ...f }).map((r) => r.code);

describe('blockedReasons', () => {
  it('says nothing of a batch that moves, or of one with nothing open', () => {
    expect(codes({})).toEqual([]);
    expect(codes({ open: 0, projectPaused: true, onlineHosts: 0 })).toEqual([]);
  });

  it('a paused project', () => {
    expect(blockedReasons({ ...MOVING, projectPaused: true })).toEqual([
      { code: 'project_paused', message: 'the project is paused: no task of it is sent until it is resumed' },
    ]);
  });

  it('an app whose newest version is broken (no older one is sent instead), and what to do', () => {
    const [r] = blockedReasons({ ...MOVING, versions: [{ version: 2, broken: 'it failed to load …: SyntaxError' }, { version: 1, broken: null }] });
    expect(r).toEqual({ code: 'app_broken', message: expect.stringMatching(/^app version 2 is broken — it failed to load …: SyntaxError\. Upload a fixed version; then retry/) });
    expect(codes({ versions: [{ version: 3, broken: null }, { version: 2, broken: 'x' }] })).toEqual([]);
  });

  it('work waiting and no volunteer connected; or none of those connected may take it', () => {
    const waiting = { replicas: { unsent: 4, inProgress: 0, success: 6, clientError: 0 } };
    expect(codes({ ...waiting, onlineHosts: 0, takers: undefined })).toEqual(['no_hosts']);
    expect(blockedReasons({ ...MOVING, ...waiting, onlineHosts: 2, takers: 0 })).toEqual([
      { code: 'no_eligible_hosts', message: expect.stringMatching(/^none of the 2 connected volunteers may take what is left: each has computed it already/) },
    ]);
    expect(codes({ ...waiting, onlineHosts: 2, takers: 1 })).toEqual([]);
    // Worked out and nothing failed: the same words.
    expect(blockedReasons({ ...MOVING, ...waiting, onlineHosts: 2, takers: 0, excluded: { computed: 2, failed: 0, error: undefined } })[0]!.message).toBe(
      'none of the 2 connected volunteers may take what is left: each has computed it already (a quorum needs distinct hosts and users) ' +
        'or runs no version of the app for its platform; it needs more volunteers',
    );
    // Tasks out: it moves, whoever is connected.
    expect(codes({ onlineHosts: 0 })).toEqual([]);
  });

  it('the connected volunteers only failed on what waits: said so, with the error, and never that they computed it', () => {
    const failing = { replicas: { unsent: 4, inProgress: 0, success: 0, clientError: 8 }, onlineHosts: 2, takers: 0 };
    const error = { code: 'app_load_failed', message: 'Error: config.json is missing' };
    expect(blockedReasons({ ...MOVING, ...failing, excluded: { computed: 0, failed: 2, error } })).toContainEqual({
      code: 'no_eligible_hosts',
      message:
        'none of the 2 connected volunteers may take what is left: the app failed on each of them (app_load_failed: Error: config.json is missing), ' +
        'and a work unit is not sent again to a volunteer it failed on. Upload a fixed version, then cancel this batch and submit it again; or it needs more volunteers',
    });
    const one = blockedReasons({ ...MOVING, ...failing, onlineHosts: 1, excluded: { computed: 0, failed: 1, error } });
    expect(one.find((r) => r.code === 'no_eligible_hosts')!.message).toMatch(/^none of the 1 connected volunteer may take what is left: the app failed on it \(app_load_failed/);
    const some = blockedReasons({ ...MOVING, ...failing, onlineHosts: 3, excluded: { computed: 0, failed: 2, error } });
    expect(some.find((r) => r.code === 'no_eligible_hosts')!.message).toMatch(/: the app failed on 2 of them \(app_load_failed/);
    // Some computed it, some failed: both said.
    const mixed = blockedReasons({ ...MOVING, ...failing, replicas: { ...failing.replicas, success: 2 }, onlineHosts: 3, excluded: { computed: 2, failed: 1, error } });
    expect(mixed).toEqual([
      {
        code: 'no_eligible_hosts',
        message:
          'none of the 3 connected volunteers may take what is left: each has computed it already (a quorum needs distinct hosts and users), ' +
          'had the app fail on it (1 of them: app_load_failed: Error: config.json is missing), or runs no version of the app for its platform; it needs more volunteers',
      },
    ]);
  });

  it('every attempt failing, with the most common error', () => {
    const failing = { replicas: { unsent: 2, inProgress: 2, success: 0, clientError: 6 }, topError: { code: 'app_exception', count: 5, message: 'TypeError: x is undefined' } };
    expect(blockedReasons({ ...MOVING, ...failing })).toEqual([
      { code: 'all_failing', message: 'every attempt so far failed (6); most often app_exception (5): TypeError: x is undefined' },
    ]);
    expect(codes({ ...failing, replicas: { ...failing.replicas, clientError: 4 } })).toEqual([]);
    expect(codes({ ...failing, replicas: { ...failing.replicas, success: 1 } })).toEqual([]);
  });
});
