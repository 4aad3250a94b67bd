// What the daemon shows of the coordinator instance it is on, when there are several: the live
// display's lines and the companion's status. Pure formatting, no daemon.
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../volunteer-node/companion.js';
import type { Status } from '../../volunteer-node/control-protocol.js';
import type { DaemonView } from '../../volunteer-node/daemon.js';
import { frame } from '../../volunteer-node/live-display.js';

const plain = (lines: string[]) => lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
const view = (connection: DaemonView['connection']): DaemonView => ({
  connection, running: [], queued: 0, unreported: 2, done: 5, errors: 0, credit: 1, paused: [], idle: undefined, stopping: undefined,
});

describe('which instance the daemon is on', () => {
  it('the live display names it when connected, and the next one while it fails over', () => {
    expect(plain(frame(view({ state: 'connected', instance: 'https://b.grid.example' }), 0, 0))[0]).toMatch(/^● connected to https:\/\/b\.grid\.example  done 5/);
    const lost = plain(frame(view({ state: 'lost', reason: 'the connection closed', sinceMs: 2_000, retryInMs: 600, instance: 'https://c.grid.example' }), 0, 0));
    expect(lost[1]).toBe('  lost the coordinator 2 s ago: the connection closed; retrying, next try https://c.grid.example in 1 s');
    // One URL: as before, the header says where.
    expect(plain(frame(view({ state: 'connected' }), 0, 0))[0]).toMatch(/^● connected  done 5/);
  });

  it('the status says it, and this host’s order of them', () => {
    const status: Status = {
      url: 'https://b.grid.example', instances: ['https://b.grid.example', 'https://a.grid.example'], hostKey: 'ab'.repeat(32), pid: 1, threads: 1,
      connection: { state: 'connected', instance: 'https://b.grid.example' }, paused: [], noNewTasks: false, noNewTasksProjects: [],
      running: 0, queued: 0, unreported: 0, done: 0, errors: 0, credit: 0,
    };
    const lines = formatStatus(status).split('\n');
    expect(lines[0]).toBe('coordinator   https://b.grid.example — connected');
    expect(lines[1]).toBe("instances     https://b.grid.example (this one), https://a.grid.example (this host's order)");
  });
});
