// An app version that fails to load wherever it runs is marked broken and no task goes out with
// it again; through the real store, with a hand-driven clock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { answer, regular, right, submit } from '../helpers/judging.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World;
afterEach(() => world?.close());

const LOAD_FAILED = { error: { code: 'app_load_failed', message: 'main.js: SyntaxError: Unexpected token (3:7)' } };

function fail(host: WorldHost, task: Task, outcome: { error: { code: string; message: string } } = LOAD_FAILED): void {
  expect(host.report(host.result(task, outcome))[0]!.status).toBe('accepted');
}

/** Hosts with a valid result behind them (on another app), as volunteers that have worked before are. */
function provenHosts(n: number): WorldHost[] {
  const hosts = Array.from({ length: n }, () => world.addHost());
  const app = world.addApp();
  for (const h of hosts) {
    submit(world, app, [regular(`warm-up ${h.id}`)], { minQuorum: 1, targetNresults: 1 });
    for (const t of h.request(1)) answer(h, t, right(t));
  }
  return hosts;
}

const version = (w: World, appId: number) => w.core.store.catalog.versionsOfApp(appId)[0]!;

describe('broken app versions', () => {
  it('fails to load three times on two proven hosts and never produced a result: broken, and no task goes out with it', () => {
    world = createWorld();
    const [a, b, c] = provenHosts(3);
    const app = world.addApp();
    submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    const [ta1, ta2] = a!.request(2);
    const [tb1] = b!.request(1);
    fail(a!, ta1!);
    fail(a!, ta2!);
    expect(version(world, app).broken).toBeNull(); // one host so far
    fail(b!, tb1!);
    expect(version(world, app).broken).toEqual({ at: world.now(), reason: expect.stringMatching(/failed to load on every host that ran it \(3 times on 2 hosts\).*SyntaxError/) });
    expect(c!.request(10)).toEqual([]);
  });

  it('a version that produced a result once is never broken by later failures', () => {
    world = createWorld();
    const [a, b, c] = provenHosts(3);
    const app = world.addApp();
    submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    const [ok] = c!.request(1);
    answer(c!, ok!, right(ok!));
    for (const h of [a!, b!]) for (const t of h.request(2)) fail(h, t);
    expect(version(world, app).broken).toBeNull();
    expect(c!.request(1)).toHaveLength(1);
  });

  it('fresh keys cannot break a version by claiming it fails, nor can errors that are not load failures', () => {
    world = createWorld();
    const app = world.addApp();
    submit(world, app, Array.from({ length: 20 }, (_, i) => regular(String(i))));
    for (const h of [world.addHost(), world.addHost(), world.addHost()]) for (const t of h.request(2)) fail(h, t);
    expect(version(world, app).broken).toBeNull();
    for (const h of provenHosts(3)) {
      for (const t of h.request(2).filter((x) => world.core.store.work.workunit(x.workunitId)!.appId === app)) {
        fail(h, t, { error: { code: 'app_exception', message: 'TypeError: input.x is undefined' } });
      }
    }
    expect(version(world, app).broken).toBeNull();
  });

  it('a new version is sent again once the broken one is replaced', () => {
    world = createWorld();
    const [a, b, c] = provenHosts(3);
    const app = world.addApp();
    submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    for (const h of [a!, b!]) for (const t of h.request(2)) fail(h, t);
    expect(version(world, app).broken).not.toBeNull();
    expect(c!.request(1)).toEqual([]);
    const files = world.core.store.catalog.versionsOfApp(app)[0]!.manifest.files.map((f) => ({ name: f.name, bytes: world.core.blobs.read(f.sha256) }));
    world.core.apps.addVersion(app, { files }, world.now());
    const [t] = c!.request(1);
    expect(t!.appVersionHash).toBe(version(world, app).bundleHash);
  });
});
