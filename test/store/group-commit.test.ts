// Group commit on a real SQLite file: messages that arrive together share a commit, each
// in its own savepoint; an answer comes only once the commit is on disk (a second
// connection sees it), and what hosts are told waits for that commit too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../coordinator/store/group-commit.js';
import { Store, type Tx } from '../../coordinator/store/store.js';

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
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = async (tx: Tx, text: string) => (await tx.sql.get<{ id: number }>('INSERT INTO notes (text) VALUES (?) RETURNING id', [text]))!.id;
/** What another connection (another process after a crash, say) finds on disk. */
function onDisk(): string[] {
  const other = new Database(file, { readonly: true });
  try {
    return (other.prepare('SELECT text FROM notes ORDER BY id').all() as { text: string }[]).map((r) => r.text);
  } finally {
    other.close();
  }
}

describe('Store transactions and after-commit callbacks', () => {
  it('runs callbacks after the outermost commit, in order', async () => {
    const seen: string[] = [];
    await store.transaction(async (tx) => {
      await insert(tx, 'a');
      tx.afterCommit(() => seen.push(`outer sees ${onDisk().join(',')}`));
      await tx.savepoint(async (inner) => {
        await insert(inner, 'b');
        inner.afterCommit(() => seen.push('inner'));
      });
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual(['outer sees a,b', 'inner']);
  });

  it('drops the callbacks of a savepoint that rolls back, and of a transaction that rolls back', async () => {
    const seen: string[] = [];
    await store.transaction(async (tx) => {
      tx.afterCommit(() => seen.push('kept'));
      await expect(
        tx.savepoint(async (inner) => {
          await insert(inner, 'undone');
          inner.afterCommit(() => seen.push('dropped'));
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
    });
    await expect(
      store.transaction(async (tx) => {
        tx.afterCommit(() => seen.push('dropped too'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(seen).toEqual(['kept']);
    expect(onDisk()).toEqual([]);
  });

  it('runs every callback after a commit even if one throws, then reports the first error', async () => {
    const seen: string[] = [];
    await expect(
      store.transaction(async (tx) => {
        await insert(tx, 'a');
        tx.afterCommit(() => {
          throw new Error('first');
        });
        tx.afterCommit(() => seen.push('second'));
      }),
    ).rejects.toThrow('first');
    expect(seen).toEqual(['second']);
    expect(onDisk()).toEqual(['a']);
  });

  it('refuses a statement on the database from inside a transaction, which would wait for it forever', async () => {
    await expect(store.transaction(async () => (await store.identities.hostById(1)))).rejects.toThrow('would wait for that transaction forever');
    await expect(store.transaction(async () => store.transaction(async () => 1))).rejects.toThrow('would wait for that transaction forever');
    // Outside, the same statement runs.
    expect(await store.identities.hostById(1)).toBeUndefined();
  });
});

describe('GroupCommit', () => {
  it('gives the messages that arrive together one commit, and answers only once it is on disk', async () => {
    const answered: string[][] = [];
    const runs = ['a', 'b', 'c'].map((text) =>
      commits.run(async (tx) => (await insert(tx, text))).then((id) => {
        answered.push(onDisk());
        return id;
      }),
    );
    expect(onDisk()).toEqual([]); // nothing committed before the turn ends
    expect(await Promise.all(runs)).toEqual([1, 2, 3]);
    expect(answered).toEqual([['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
    expect({ groups: commits.groups, jobs: commits.jobs }).toEqual({ groups: 1, jobs: 3 });

    await commits.run(async (tx) => (await insert(tx, 'd')));
    expect({ groups: commits.groups, jobs: commits.jobs }).toEqual({ groups: 2, jobs: 4 });
  });

  it('gathers what arrives while a group commits into the next group, and answers in order', async () => {
    const order: string[] = [];
    const first = commits.run(async (tx) => {
      await insert(tx, 'a');
      return 'a';
    });
    // Let the first group start, then send more while it is in flight.
    await new Promise((resolve) => setImmediate(resolve));
    const more = ['b', 'c'].map((text) => commits.run(async (tx) => (await insert(tx, text), text)));
    for (const p of [first, ...more]) void p.then((t) => order.push(t));
    await Promise.all([first, ...more]);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(onDisk()).toEqual(['a', 'b', 'c']);
    expect(commits.groups).toBe(2);
  });

  it('undoes only the message that failed; the others of its group commit', async () => {
    const outcomes = await Promise.allSettled([
      commits.run(async (tx) => (await insert(tx, 'a'))),
      commits.run(async (tx) => {
        await insert(tx, 'half done');
        await insert(tx, 'a'); // UNIQUE: this message fails after writing
      }),
      commits.run(async (tx) => (await insert(tx, 'c'))),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('UNIQUE constraint failed');
    expect(onDisk()).toEqual(['a', 'c']);
  });

  it('tells hosts only after the commit, and only about messages that were kept', async () => {
    const told: string[] = [];
    await Promise.allSettled([
      commits.run(async (tx) => {
        await insert(tx, 'a');
        tx.afterCommit(() => told.push(`a, with ${onDisk().join(',')} on disk`));
      }),
      commits.run(async (tx) => {
        tx.afterCommit(() => told.push('never'));
        throw new Error('refused');
      }),
    ]);
    expect(told).toEqual(['a, with a on disk']);
  });

  it('answers a group whose notices fail as committed, and reports the notice error', async () => {
    const id = await commits.run(async (tx) => {
      tx.afterCommit(() => {
        throw new Error('socket gone');
      });
      return await insert(tx, 'a');
    });
    expect(id).toBe(1);
    expect(onDisk()).toEqual(['a']);
    expect(noticeErrors.map(String)).toEqual(['Error: socket gone']);
  });

  it('fails the whole group, keeping nothing, when the transaction itself is lost', async () => {
    const outcomes = await Promise.allSettled([
      commits.run(async (tx) => (await insert(tx, 'a'))),
      commits.run(async () => {
        // What SQLite does on a full disk or an I/O error: it rolls the whole transaction back.
        store.db.exec('ROLLBACK');
        throw new Error('disk I/O error');
      }),
      commits.run(async (tx) => (await insert(tx, 'never run'))),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(onDisk()).toEqual([]);
    expect(store.db.inTransaction).toBe(false);
    await commits.run(async (tx) => (await insert(tx, 'later')));
    expect(onDisk()).toEqual(['later']);
  });

  it('starts a group at once when it is full, so the first message never waits on a crowd', async () => {
    const small = new GroupCommit(store, { maxGroup: 2, onNoticeError: () => {} });
    const first = small.run(async (tx) => (await insert(tx, 'a')));
    const second = small.run(async (tx) => (await insert(tx, 'b')));
    const third = small.run(async (tx) => (await insert(tx, 'c')));
    await Promise.all([first, second]);
    expect(onDisk().slice(0, 2)).toEqual(['a', 'b']);
    await third;
    expect({ groups: small.groups, jobs: small.jobs }).toEqual({ groups: 2, jobs: 3 });
  });

  it('commits what was queued when closed, and refuses what comes after', async () => {
    const before = commits.run(async (tx) => (await insert(tx, 'a')));
    await commits.close();
    expect(onDisk()).toEqual(['a']);
    await expect(before).resolves.toBe(1);
    await expect(commits.run(async (tx) => (await insert(tx, 'b')))).rejects.toThrow('the coordinator is shutting down');
    expect(onDisk()).toEqual(['a']);
  });

  it('answers every message even when the observer throws, and goes on committing', async () => {
    const errors: unknown[] = [];
    const failing = new GroupCommit(store, {
      onNoticeError: (e) => errors.push(e),
      observe: () => {
        throw new Error('metrics gone');
      },
    });
    expect(await Promise.all(['a', 'b'].map((t) => failing.run((tx) => insert(tx, t))))).toEqual([1, 2]);
    expect(await failing.run((tx) => insert(tx, 'c'))).toBe(3);
    await expect.poll(() => errors.map(String)).toEqual(['Error: metrics gone', 'Error: metrics gone']);
  });

  it('runs its last step once a group, after the messages and in their transaction; when it fails, the group fails as one', async () => {
    const steps: string[][] = [];
    let fail = false;
    const sealed = new GroupCommit(store, {
      onNoticeError: () => {},
      beforeCommit: async (tx) => {
        steps.push((await tx.sql.all<{ text: string }>('SELECT text FROM notes ORDER BY id')).map((r) => r.text));
        if (fail) throw new Error('the last step failed');
        await insert(tx, `sealed ${steps.length}`);
      },
    });
    expect(await Promise.all(['a', 'b'].map((t) => sealed.run((tx) => insert(tx, t))))).toEqual([1, 2]);
    expect(steps).toEqual([['a', 'b']]);
    expect(onDisk()).toEqual(['a', 'b', 'sealed 1']);
    fail = true;
    const failed = ['c', 'd'].map((t) => sealed.run((tx) => insert(tx, t)));
    for (const r of failed) await expect(r).rejects.toThrow('the last step failed');
    expect(onDisk()).toEqual(['a', 'b', 'sealed 1']);
  });

  it('reports each commit to its observer: messages and seconds', async () => {
    const seen: number[] = [];
    const observed = new GroupCommit(store, { onNoticeError: () => {}, observe: (messages, seconds) => seen.push(messages, seconds >= 0 ? 1 : 0) });
    await Promise.all(['a', 'b'].map((t) => observed.run(async (tx) => (await insert(tx, t)))));
    expect(seen).toEqual([2, 1]);
  });
});
