// Protocol 3 signs once per message: the coordinator a tasks.request reply's tasks, the host a
// results.report's results. The signed body names the host and lists each document's hash
// (jsonHash of exactly the fields protocol 2 signed on their own), in the message's order, so
// one Ed25519 signature covers what 16-64 covered before and a document is checked by hashing it.
import type { Ed25519 } from './ed25519.js';
import { jsonHash } from './hash.js';
import type { ResultBody, ResultListBody, SignedResultList, TaskBody, TaskListBody } from './messages.js';
import { resultBody, signBody, taskBody } from './signing.js';

/** What the coordinator signs (domain "taskList") for the tasks of one reply to one host. */
export function taskListBody(hostKey: string, tasks: readonly TaskBody[]): TaskListBody {
  return { hostKey, taskHashes: tasks.map((t) => jsonHash(taskBody(t))) };
}

/** What a host signs (domain "resultList") for the results of one report. */
export function resultListBody(hostKey: string, results: readonly ResultBody[]): ResultListBody {
  return { hostKey, resultHashes: results.map((r) => jsonHash(resultBody(r))) };
}

/** A host's one signature for a report of these results, in this order. */
export function signResultList(ed: Ed25519, hostSeedHex: string, hostKey: string, results: readonly ResultBody[]): SignedResultList {
  const body = resultListBody(hostKey, results);
  return { ...body, signature: signBody(ed, hostSeedHex, 'resultList', body) };
}

/**
 * One per result, in the report's order: whether the list covers it — its signature verified
 * (`listVerified`, checked by the caller, on another thread on the coordinator), it counts as many
 * results as the report has, the result names the list's host and hashes to the list's entry at
 * its place. A list that does not verify or counts other results covers none of them.
 */
export function resultListVerdicts(listVerified: boolean, list: ResultListBody, results: readonly ResultBody[]): boolean[] {
  const whole = listVerified && list.resultHashes.length === results.length;
  return results.map((r, i) => whole && r.hostKey === list.hostKey && jsonHash(resultBody(r)) === list.resultHashes[i]);
}
