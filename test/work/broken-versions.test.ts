// An app version that fails to load wherever it runs is marked broken and no task goes out with
// it again; through the real store, with a hand-driven clock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { answer, regular, right, submit } from '../helpers/judging.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World;
afterEach(() => world?.close());

const LOAD_FAILED = { error: { code: 'app_load_failed', message: 'main.js: SyntaxError: Unexpected token (3:7)' } };

async function fail(host: WorldHost, task: Task, outcome: { error: { code: string; message: string } } = LOAD_FAILED): Promise<void> {
  expect((await host.report(host.result(task, outcome)))[0]!.status).toBe('accepted');
}

/** Hosts with a valid result behind them (on another app), as volunteers that have worked before are. */
async function provenHosts(n: number): Promise<WorldHost[]> {
  const hosts = await Promise.all(Array.from({ length: n }, async () => (await world.addHost())));
  const app = await world.addApp();
  for (const h of hosts) {
    await submit(world, app, [regular(`warm-up ${h.id}`)], { minQuorum: 1, targetNresults: 1 });
    for (const t of (await h.request(1))) await answer(h, t, right(t));
  }
  return hosts;
}

const version = async (w: World, appId: number) => (await w.core.store.catalog.versionsOfApp(appId))[0]!;

describe('broken app versions', () => {
  it('fails to load three times on two proven hosts and never produced a result: broken, and no task goes out with it', async () => {
    world = createWorld();
    const [a, b, c] = await provenHosts(3);
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    const [ta1, ta2] = await a!.request(2);
    const [tb1] = await b!.request(1);
    await fail(a!, ta1!);
    await fail(a!, ta2!);
    expect((await version(world, app)).broken).toBeNull(); // one host so far
    await fail(b!, tb1!);
    expect((await version(world, app)).broken).toEqual({ at: world.now(), reason: expect.stringMatching(/failed to load on every host that ran it \(3 times on 2 hosts\).*SyntaxError/) });
    expect(await c!.request(10)).toEqual([]);
  });

  it('a version that produced a result once is never broken by later failures', async () => {
    world = createWorld();
    const [a, b, c] = await provenHosts(3);
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    const [ok] = await c!.request(1);
    await answer(c!, ok!, right(ok!));
    for (const h of [a!, b!]) for (const t of (await h.request(2))) await fail(h, t);
    expect((await version(world, app)).broken).toBeNull();
    expect(await c!.request(1)).toHaveLength(1);
  });

  it('fresh keys cannot break a version by claiming it fails, nor can errors that are not load failures', async () => {
    world = createWorld();
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 20 }, (_, i) => regular(String(i))));
    for (const h of [(await world.addHost()), (await world.addHost()), (await world.addHost())]) for (const t of (await h.request(2))) await fail(h, t);
    expect((await version(world, app)).broken).toBeNull();
    for (const h of await provenHosts(3)) {
      for (const t of await h.request(2)) {
        if ((await world.core.store.work.workunit(world.workunitOf(t)))!.appId !== app) continue;
        await fail(h, t, { error: { code: 'app_exception', message: 'TypeError: input.x is undefined' } });
      }
    }
    expect((await version(world, app)).broken).toBeNull();
  });

  it('a new version is sent again once the broken one is replaced', async () => {
    world = createWorld();
    const [a, b, c] = await provenHosts(3);
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    for (const h of [a!, b!]) for (const t of (await h.request(2))) await fail(h, t);
    expect((await version(world, app)).broken).not.toBeNull();
    expect(await c!.request(1)).toEqual([]);
    const files = (await world.core.store.catalog.versionsOfApp(app))[0]!.manifest.files.map((f) => ({ name: f.name, bytes: world.core.blobs.read(f.sha256) }));
    await world.core.apps.addVersion(app, { files }, world.now());
    const [t] = await c!.request(1);
    expect(t!.appVersionHash).toBe((await version(world, app)).bundleHash);
  });
});
