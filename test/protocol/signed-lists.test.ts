// Protocol 3 signs a reply's tasks, and a report's results, once: a signature over the list of
// their bodies' hashes, in order, naming the host. What each side checks of such a list.
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { ResultsReportV3Schema, SignedTaskListSchema, UnsignedResultSchema, type TaskBody, type UnsignedTask } from '../../protocol/messages.js';
import { buildUnsignedResult } from '../../protocol/results.js';
import { resultListBody, resultListVerdicts, signResultList, taskListBody } from '../../protocol/signed-lists.js';
import { resultBody, signBody, taskBody, verifyBody } from '../../protocol/signing.js';
import { listedTaskProblems } from '../../protocol/verify.js';

const ed = nodeEd25519();
const nacl = tweetnaclEd25519();
const coordSeed = toHex(new Uint8Array(32).fill(3));
const coordKey = toHex(ed.publicKeyFromSeed(fromHex(coordSeed)));
const hostSeed = toHex(new Uint8Array(32).fill(9));
const hostKey = toHex(ed.publicKeyFromSeed(fromHex(hostSeed)));
const input = { from: 1, to: 10 };

function task(taskId: number, overrides: Partial<TaskBody> = {}): UnsignedTask {
  const body: TaskBody = {
    taskId, workunitId: taskId, hostKey, appVersionHash: 'cd'.repeat(32), inputHash: jsonHash(input),
    deadline: 1_800_000_000_000, rngSeed: 'ef'.repeat(32), fpopsEst: 1e9, issuedAt: 1_700_000_000_000, ...overrides,
  };
  return { ...body, input, project: 'p', app: 'a' };
}

/** A task list as the coordinator signs it. */
const signedList = (tasks: readonly UnsignedTask[], forHost = hostKey, seed = coordSeed) => {
  const body = taskListBody(forHost, tasks);
  return { ...body, signature: signBody(ed, seed, 'taskList', body) };
};

describe('a task list (checked with tweetnacl, as a browser would)', () => {
  const tasks = [task(11), task(12), task(13)];

  it('signs the hashes of the tasks’ signed fields, in order, and names the host', () => {
    const list = signedList(tasks);
    expect(SignedTaskListSchema.parse(list)).toEqual(list);
    expect(list.taskHashes).toEqual(tasks.map((t) => jsonHash(taskBody(t))));
    expect(list.hostKey).toBe(hostKey);
    expect(listedTaskProblems(nacl, coordKey, hostKey, tasks, list)).toEqual([undefined, undefined, undefined]);
  });

  it('refuses a tampered task, and only that one', () => {
    const list = signedList(tasks);
    const tampered = [tasks[0]!, { ...tasks[1]!, deadline: 1_900_000_000_000 }, tasks[2]!];
    const problems = listedTaskProblems(nacl, coordKey, hostKey, tampered, list);
    expect(problems[0]).toBeUndefined();
    expect(problems[1]).toMatch(/task list/);
    expect(problems[2]).toBeUndefined();
  });

  it('refuses tasks in another order than the list’s', () => {
    const list = signedList(tasks);
    const problems = listedTaskProblems(nacl, coordKey, hostKey, [tasks[1]!, tasks[0]!, tasks[2]!], list);
    expect(problems.slice(0, 2)).toEqual([expect.stringMatching(/task list/), expect.stringMatching(/task list/)]);
    expect(problems[2]).toBeUndefined();
  });

  it('refuses every task when the list does not verify, names another host, or counts other tasks', () => {
    const forged = signedList(tasks, hostKey, toHex(new Uint8Array(32).fill(4)));
    expect(listedTaskProblems(nacl, coordKey, hostKey, tasks, forged)).toEqual(tasks.map(() => expect.stringMatching(/signature/)));
    const reordered = { ...signedList(tasks), taskHashes: [...signedList(tasks).taskHashes].reverse() };
    expect(listedTaskProblems(nacl, coordKey, hostKey, [...tasks].reverse(), reordered)).toEqual(tasks.map(() => expect.stringMatching(/signature/)));
    const other = toHex(ed.publicKeyFromSeed(new Uint8Array(32).fill(5)));
    expect(listedTaskProblems(nacl, coordKey, hostKey, tasks, signedList(tasks, other))).toEqual(tasks.map(() => expect.stringMatching(/another host/)));
    expect(listedTaskProblems(nacl, coordKey, hostKey, tasks.slice(0, 2), signedList(tasks))).toEqual([expect.stringMatching(/3 tasks/), expect.stringMatching(/3 tasks/)]);
    expect(listedTaskProblems(nacl, coordKey, hostKey, tasks, undefined)).toEqual(tasks.map(() => expect.stringMatching(/no task list/)));
  });

  it('still checks each task’s host and inline input', () => {
    const other = toHex(ed.publicKeyFromSeed(new Uint8Array(32).fill(5)));
    const mixed = [task(11, { hostKey: other }), { ...task(12), input: { from: 1, to: 11 } }];
    const problems = listedTaskProblems(nacl, coordKey, hostKey, mixed, signedList(mixed));
    expect(problems).toEqual([expect.stringMatching(/another host/), expect.stringMatching(/inline input/)]);
  });
});

describe('a result list', () => {
  const results = [
    buildUnsignedResult({ taskId: 11, workunitId: 11, hostKey }, { output: { n: 1 } }, { cpuTimeMs: 5, elapsedMs: 6 }),
    buildUnsignedResult({ taskId: 12, workunitId: 12, hostKey }, { error: { code: 'app_exception', message: 'boom' } }),
  ];
  const list = signResultList(nacl, hostSeed, hostKey, results);
  const verifies = (l: typeof list) => verifyBody(ed, l.hostKey, 'resultList', { hostKey: l.hostKey, resultHashes: l.resultHashes }, l.signature);

  it('is signed by the host over its results’ hashes in the report’s order, and the report matches the schema', () => {
    for (const r of results) expect(UnsignedResultSchema.safeParse(r).success).toBe(true);
    expect(results[0]).not.toHaveProperty('signature');
    expect(list.resultHashes).toEqual(results.map((r) => jsonHash(resultBody(r))));
    expect({ hostKey: list.hostKey, resultHashes: list.resultHashes }).toEqual(resultListBody(hostKey, results));
    expect(verifies(list)).toBe(true);
    expect(ResultsReportV3Schema.safeParse({ results, resultList: list }).success).toBe(true);
    expect(resultListVerdicts(true, list, results)).toEqual([true, true]);
  });

  it('does not cover a tampered result, nor results in another order', () => {
    const tampered = [{ ...results[0]!, cpuTimeMs: 5000 }, results[1]!];
    expect(resultListVerdicts(true, list, tampered)).toEqual([false, true]);
    expect(resultListVerdicts(true, list, [results[1]!, results[0]!])).toEqual([false, false]);
  });

  it('covers nothing when its signature does not verify, it names another host, or it counts other results', () => {
    expect(resultListVerdicts(false, list, results)).toEqual([false, false]);
    const other = toHex(ed.publicKeyFromSeed(new Uint8Array(32).fill(5)));
    const foreign = { ...results[0]!, hostKey: other };
    expect(resultListVerdicts(true, signResultList(nacl, hostSeed, hostKey, [foreign]), [foreign])).toEqual([false]);
    expect(resultListVerdicts(true, list, results.slice(0, 1))).toEqual([false]);
    const reordered = { ...list, resultHashes: [...list.resultHashes].reverse() };
    expect(verifies(reordered)).toBe(false);
  });

  it('refuses a report whose results carry signatures of their own, or that has no list', () => {
    expect(ResultsReportV3Schema.safeParse({ results: results.map((r) => ({ ...r, signature: list.signature })), resultList: list }).success).toBe(false);
    expect(ResultsReportV3Schema.safeParse({ results }).success).toBe(false);
  });
});
