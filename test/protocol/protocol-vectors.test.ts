// docs/protocol.md prints a signed task, result and upload proof from fixed seeds, and protocol
// 3's signed lists of two tasks and two results, for clients in other languages to check their
// encoding and signatures against (a full-size random task id included). This checks those
// blocks against the code, so the doc cannot drift from it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { Hex32, Hex64, ResultBodySchema, ResultListBodySchema, TaskBodySchema, TaskListBodySchema, UploadProofSchema } from '../../protocol/messages.js';
import { resultListBody, resultListVerdicts, taskListBody } from '../../protocol/signed-lists.js';
import { listedTaskProblems } from '../../protocol/verify.js';
import { signBody, verifyBody, type SigningDomain } from '../../protocol/signing.js';

const ROOT = resolve(import.meta.dirname, '../..');
const Signed = <T extends z.ZodType>(body: T) => z.strictObject({ body, signature: Hex64 });
const VectorsSchema = z.strictObject({
  coordinatorSeed: Hex32,
  coordinatorKey: Hex32,
  hostSeed: Hex32,
  hostKey: Hex32,
  task: z.strictObject({ body: TaskBodySchema, canonical: z.string(), signature: Hex64 }),
  result: Signed(ResultBodySchema),
  upload: Signed(UploadProofSchema),
});

const ListVectorsSchema = z.strictObject({
  coordinatorSeed: Hex32,
  coordinatorKey: Hex32,
  hostSeed: Hex32,
  hostKey: Hex32,
  taskList: z.strictObject({ tasks: z.array(TaskBodySchema), body: TaskListBodySchema, canonical: z.string(), signature: Hex64 }),
  resultList: z.strictObject({ results: z.array(ResultBodySchema), body: ResultListBodySchema, signature: Hex64 }),
});

/** The first json block after a heading of docs/protocol.md. */
function docBlock(heading: string): unknown {
  const doc = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');
  const at = doc.indexOf(heading);
  expect(at, `docs/protocol.md has a "${heading}" heading`).toBeGreaterThan(0);
  const m = /```json\n([\s\S]*?)\n```/.exec(doc.slice(at));
  if (!m) throw new Error(`docs/protocol.md has no json block after "${heading}"`);
  return JSON.parse(m[1]!);
}

const docVectors = () => VectorsSchema.parse(docBlock('### Test vectors: signed messages'));

describe('the signed messages printed in docs/protocol.md', () => {
  const v = docVectors();

  it('name the keys their seeds make', () => {
    const ed = nodeEd25519();
    expect(toHex(ed.publicKeyFromSeed(fromHex(v.coordinatorSeed)))).toBe(v.coordinatorKey);
    expect(toHex(ed.publicKeyFromSeed(fromHex(v.hostSeed)))).toBe(v.hostKey);
  });

  it('carry a full-size task id, repeated as it came', () => {
    expect(v.task.body.taskId).toBeGreaterThan(2 ** 52);
    expect(Number.isSafeInteger(v.task.body.taskId)).toBe(true);
    expect([v.result.body.taskId, v.upload.body.taskId, v.result.body.workunitId]).toEqual([v.task.body.taskId, v.task.body.taskId, v.task.body.workunitId]);
    expect(v.task.body.hostKey).toBe(v.hostKey);
  });

  it('give the task’s canonical JSON', () => {
    expect(canonicalJson(v.task.body)).toBe(v.task.canonical);
  });

  it.each([
    ['task', 'coordinator'],
    ['result', 'host'],
    ['upload', 'host'],
  ] as const)('sign the %s as the code does, and verify with both Ed25519 implementations', (name, signer) => {
    const { body, signature } = v[name];
    const seed = signer === 'coordinator' ? v.coordinatorSeed : v.hostSeed;
    const key = signer === 'coordinator' ? v.coordinatorKey : v.hostKey;
    const domain: SigningDomain = name;
    expect(signBody(nodeEd25519(), seed, domain, body)).toBe(signature);
    expect(verifyBody(tweetnaclEd25519(), key, domain, body, signature)).toBe(true);
  });
});

describe('protocol 3’s signed lists printed in docs/protocol.md', () => {
  const v = ListVectorsSchema.parse(docBlock('### Test vectors: signed lists (protocol 3)'));
  const single = docVectors();

  it('use the same keys as the signed messages, and their task and result first', () => {
    expect([v.coordinatorSeed, v.coordinatorKey, v.hostSeed, v.hostKey]).toEqual([single.coordinatorSeed, single.coordinatorKey, single.hostSeed, single.hostKey]);
    expect(v.taskList.tasks[0]).toEqual(single.task.body);
    expect(v.resultList.results[0]).toEqual(single.result.body);
    expect(v.taskList.tasks).toHaveLength(2);
    expect(v.resultList.results).toHaveLength(2);
  });

  it('list each document’s hash in order, and give the task list’s canonical JSON', () => {
    expect(taskListBody(v.hostKey, v.taskList.tasks)).toEqual(v.taskList.body);
    expect(resultListBody(v.hostKey, v.resultList.results)).toEqual(v.resultList.body);
    expect(canonicalJson(v.taskList.body)).toBe(v.taskList.canonical);
  });

  it('sign the lists as the code does, and verify with both Ed25519 implementations', () => {
    expect(signBody(nodeEd25519(), v.coordinatorSeed, 'taskList', v.taskList.body)).toBe(v.taskList.signature);
    expect(signBody(nodeEd25519(), v.hostSeed, 'resultList', v.resultList.body)).toBe(v.resultList.signature);
    const nacl = tweetnaclEd25519();
    expect(verifyBody(nacl, v.coordinatorKey, 'taskList', v.taskList.body, v.taskList.signature)).toBe(true);
    expect(verifyBody(nacl, v.hostKey, 'resultList', v.resultList.body, v.resultList.signature)).toBe(true);
    const tasks = v.taskList.tasks.map((t) => ({ ...t, project: 'p', app: 'a' }));
    expect(listedTaskProblems(nacl, v.coordinatorKey, v.hostKey, tasks, { ...v.taskList.body, signature: v.taskList.signature })).toEqual([undefined, undefined]);
    expect(resultListVerdicts(true, v.resultList.body, v.resultList.results)).toEqual([true, true]);
  });
});
