// A stored output that cannot be read (a file that is not JSON, accepted before uploads were
// checked, or a file gone from the store) fails only its own result, through the real store:
// tolerance validation, which reads outputs, goes on with the other results.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import type { Task } from '../../protocol/messages.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World;
afterEach(() => world?.close());

const TOLERANCE = { mode: 'tolerance', absEpsilon: 0.01, relEpsilon: 0 } as const;

/** Records a success naming this file, as a coordinator without the upload check would have. */
async function storeLegacyResult(w: World, task: Task, bytes: Uint8Array): Promise<string> {
  const hash = w.core.blobs.put(bytes);
  await w.core.store.catalog.recordFile(hash, bytes.length, w.now());
  await w.core.store.work.recordResult({ replicaId: w.replicaIdOf(task), outcome: 'success', receivedAt: w.now(), resultHash: 'a'.repeat(64), signature: 'b'.repeat(128),
    outputJson: null, outputHash: hash, errorJson: null, logJson: null, cpuTimeMs: 1, elapsedMs: 1 });
  return hash;
}

async function answer(host: WorldHost, task: Task, output: unknown): Promise<void> {
  expect((await host.report(host.result(task, { output })))).toEqual([{ taskId: task.taskId, status: 'accepted' }]);
}

const replica = async (w: World, task: Task) => (await w.core.store.work.replicasOf(w.workunitOf(task))).find((r) => r.id === w.replicaIdOf(task))!;

describe('an unreadable output', () => {
  it('whose file is gone: that result is forfeited, the others validate', async () => {
    world = createWorld();
    await world.submit((await world.addApp({ validation: TOLERANCE })), [{ n: 1 }], { minQuorum: 2, targetNresults: 2 });
    const [a, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const hash = await storeLegacyResult(world, ta!, utf8('{"x":1}'));
    rmSync(world.core.blobs.pathOf(hash));
    const [tb] = await b.request(1);
    await answer(b, tb!, { x: 1 });
    expect(await replica(world, ta!)).toMatchObject({ validateState: 'invalid', forfeited: true });
    const [tc] = await c.request(1);
    await answer(c, tc!, { x: 1.001 });
    expect((await world.core.store.work.workunit(world.workunitOf(ta!)))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tb!) });
    expect((await world.core.store.identities.hostById(a.id))).toMatchObject({ nInvalid: 1, nValid: 0 });
  });

  it('in answer to a sentinel: the host fails it, and the next host’s right answer passes', async () => {
    world = createWorld({ checkRate: 1 });
    const app = await world.addApp({ validation: TOLERANCE });
    await world.core.submission.submitBatch({ appId: app, name: 'sentinel', workunits: [{ input: { r: 0 } }, { input: { s: 1 }, expectedOutput: { x: 1 } }] as never[] }, world.now());
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    expect(ta!.input).toEqual({ s: 1 });
    await storeLegacyResult(world, ta!, utf8('1}\n{"forged":true'));
    const [tb] = await b.request(1);
    expect(world.workunitOf(tb!)).toBe(world.workunitOf(ta!));
    await answer(b, tb!, { x: 1.001 });
    expect((await replica(world, ta!)).validateState).toBe('invalid');
    expect((await replica(world, tb!)).validateState).toBe('valid');
    expect((await world.core.store.identities.hostById(a.id))).toMatchObject({ sentinelsFailed: 1, distrustedAt: world.now() });
    expect((await world.core.store.identities.hostById(b.id))).toMatchObject({ sentinelsPassed: 1, distrustedAt: null });
  });
});
