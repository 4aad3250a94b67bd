// App kinds and older clients: a WASI version goes only to hosts that list app-kind:wasi (an
// older client lists nothing, and gets no task of it rather than a manifest it cannot read),
// while a JavaScript version's manifest is exactly what it was before kinds, so its bundle hash
// and every client's handling of it are unchanged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLES_DIR } from '../../examples/catalog.js';
import { kindFeature } from '../../protocol/app-kind.js';
import { jsonHash } from '../../protocol/hash.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('app kinds in the manifest and in matching', () => {
  it('sends a WASI version only to hosts that run WASI programs, and leaves JavaScript manifests as they were', async () => {
    world = createWorld();
    const w = world;
    const projectId = await w.core.apps.createProject({ name: 'kinds' });
    const wasi = await w.core.apps.createApp(projectId, { name: 'collatz' });
    const wasm = new Uint8Array(readFileSync(join(EXAMPLES_DIR, 'collatz', 'main.wasm')));
    const version = await w.core.apps.addVersion(wasi.id, { files: [{ name: 'main.wasm', bytes: wasm }] }, w.now());
    expect(version.manifest).toMatchObject({ entry: 'main.wasm', kind: 'wasi' });

    const js = await w.addApp();
    const jsVersion = (await w.core.store.catalog.versionsOfApp(js))[0]!;
    expect(Object.keys(jsVersion.manifest).sort()).toEqual(['entry', 'files']);
    expect(jsVersion.bundleHash).toBe(jsonHash({ entry: jsVersion.manifest.entry, files: jsVersion.manifest.files }));

    const wasiBatch = await w.submit(wasi.id, ['1 100', '100 200'], { minQuorum: 1, targetNresults: 1 });
    const older = await w.addHost({ capabilities: { wasm: true } });
    expect((await older.request(5))).toEqual([]);
    const runner = await w.addHost({ capabilities: { wasm: true, features: [kindFeature('wasi')] } });
    const tasks = await runner.request(5);
    expect(tasks.map((t) => t.appVersionHash)).toEqual([version.bundleHash, version.bundleHash]);
    expect(w.workunitIds(wasiBatch)).toHaveLength(2);

    // The older client still gets JavaScript work.
    await w.submit(js, [{ from: 1, to: 10 }], { minQuorum: 1, targetNresults: 1 });
    expect((await older.request(5)).map((t) => t.appVersionHash)).toEqual([jsVersion.bundleHash]);
  });
});
