// Group commit on a real SQLite file: messages of one event-loop turn share a commit, each
// in its own savepoint; an answer comes only once the commit is on disk (a second
// connection sees it), and what hosts are told waits for that commit too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../coordinator/store/group-commit.js';
import { Store } from '../../coordinator/store/store.js';

let dir: string;
let file: string;
let store: Store;
let noticeErrors: unknown[];
let commits: GroupCommit;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vg-group-commit-'));
  file = join(dir, 'coordinator.sqlite');
  store = Store.open(file);
  store.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)');
  noticeErrors = [];
  commits = new GroupCommit(store, { onNoticeError: (e) => noticeErrors.push(e) });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (text: string) => Number(store.db.prepare('INSERT INTO notes (text) VALUES (?)').run(text).lastInsertRowid);
/** What another connection (another process after a crash, say) finds on disk. */
function onDisk(): string[] {
  const other = new Database(file, { readonly: true });
  try {
    return (other.prepare('SELECT text FROM notes ORDER BY id').all() as { text: string }[]).map((r) => r.text);
  } finally {
    other.close();
  }
}

describe('Store.afterCommit', () => {
  it('runs callbacks after the outermost commit, in order, and at once outside a transaction', () => {
    const seen: string[] = [];
    store.afterCommit(() => seen.push('outside'));
    expect(seen).toEqual(['outside']);
    store.transaction(() => {
      insert('a');
      store.afterCommit(() => seen.push(`outer sees ${onDisk().join(',')}`));
      store.transaction(() => {
        insert('b');
        store.afterCommit(() => seen.push('inner'));
      });
      expect(seen).toEqual(['outside']);
    });
    expect(seen).toEqual(['outside', 'outer sees a,b', 'inner']);
  });

  it('drops the callbacks of a savepoint that rolls back, and of a transaction that rolls back', () => {
    const seen: string[] = [];
    store.transaction(() => {
      store.afterCommit(() => seen.push('kept'));
      expect(() =>
        store.transaction(() => {
          insert('undone');
          store.afterCommit(() => seen.push('dropped'));
          throw new Error('no');
        }),
      ).toThrow('no');
    });
    expect(() =>
      store.transaction(() => {
        store.afterCommit(() => seen.push('dropped too'));
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(seen).toEqual(['kept']);
    expect(onDisk()).toEqual([]);
  });

  it('runs every callback after a commit even if one throws, then reports the first error', () => {
    const seen: string[] = [];
    expect(() =>
      store.transaction(() => {
        insert('a');
        store.afterCommit(() => {
          throw new Error('first');
        });
        store.afterCommit(() => seen.push('second'));
      }),
    ).toThrow('first');
    expect(seen).toEqual(['second']);
    expect(onDisk()).toEqual(['a']);
  });
});

describe('GroupCommit', () => {
  it('gives the messages of one turn one commit, and answers only once it is on disk', async () => {
    const answered: string[][] = [];
    const runs = ['a', 'b', 'c'].map((text) =>
      commits.run(() => insert(text)).then((id) => {
        answered.push(onDisk());
        return id;
      }),
    );
    expect(onDisk()).toEqual([]); // nothing committed before the turn ends
    expect(await Promise.all(runs)).toEqual([1, 2, 3]);
    expect(answered).toEqual([['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
    expect({ groups: commits.groups, jobs: commits.jobs }).toEqual({ groups: 1, jobs: 3 });

    await commits.run(() => insert('d'));
    expect({ groups: commits.groups, jobs: commits.jobs }).toEqual({ groups: 2, jobs: 4 });
  });

  it('undoes only the message that failed; the others of its group commit', async () => {
    const outcomes = await Promise.allSettled([
      commits.run(() => insert('a')),
      commits.run(() => {
        insert('half done');
        insert('a'); // UNIQUE: this message fails after writing
      }),
      commits.run(() => insert('c')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('UNIQUE constraint failed');
    expect(onDisk()).toEqual(['a', 'c']);
  });

  it('tells hosts only after the commit, and only about messages that were kept', async () => {
    const told: string[] = [];
    await Promise.allSettled([
      commits.run(() => {
        insert('a');
        store.afterCommit(() => told.push(`a, with ${onDisk().join(',')} on disk`));
      }),
      commits.run(() => {
        store.afterCommit(() => told.push('never'));
        throw new Error('refused');
      }),
    ]);
    expect(told).toEqual(['a, with a on disk']);
  });

  it('answers a group whose notices fail as committed, and reports the notice error', async () => {
    const id = await commits.run(() => {
      store.afterCommit(() => {
        throw new Error('socket gone');
      });
      return insert('a');
    });
    expect(id).toBe(1);
    expect(onDisk()).toEqual(['a']);
    expect(noticeErrors.map(String)).toEqual(['Error: socket gone']);
  });

  it('fails the whole group, keeping nothing, when the transaction itself is lost', async () => {
    const outcomes = await Promise.allSettled([
      commits.run(() => insert('a')),
      commits.run(() => {
        // What SQLite does on a full disk or an I/O error: it rolls the whole transaction back.
        store.db.exec('ROLLBACK');
        throw new Error('disk I/O error');
      }),
      commits.run(() => insert('never run')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(onDisk()).toEqual([]);
    expect(store.db.inTransaction).toBe(false);
    await commits.run(() => insert('later'));
    expect(onDisk()).toEqual(['later']);
  });

  it('commits at once when a group is full, so the first message never waits on a crowd', async () => {
    const small = new GroupCommit(store, { maxGroup: 2, onNoticeError: () => {} });
    const first = small.run(() => insert('a'));
    const second = small.run(() => insert('b'));
    expect(onDisk()).toEqual(['a', 'b']); // committed inside the second run() call
    const third = small.run(() => insert('c'));
    await Promise.all([first, second, third]);
    expect({ groups: small.groups, jobs: small.jobs }).toEqual({ groups: 2, jobs: 3 });
  });

  it('refuses to answer from inside another transaction, where its commit would not be durable', async () => {
    const run = commits.run(() => insert('a'));
    store.transaction(() => commits.flush());
    await expect(run).rejects.toThrow('a group commit cannot run inside another transaction');
    expect(onDisk()).toEqual([]);
  });

  it('commits what was queued when closed, and refuses what comes after', async () => {
    const before = commits.run(() => insert('a'));
    commits.close();
    expect(onDisk()).toEqual(['a']);
    await expect(before).resolves.toBe(1);
    await expect(commits.run(() => insert('b'))).rejects.toThrow('the coordinator is shutting down');
    expect(onDisk()).toEqual(['a']);
  });
});
