// An app version is checked when it is uploaded, through the real API: a mistake is refused with
// the file, line and message, and nothing is stored — before any volunteer fails a task on it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModuleChecker } from '../../coordinator/apps/module-check.js';
import { ApiClient, dbState, expectError, newApp, newResearcher, TRIVIAL_MAIN, type App } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { PRIMES_DIR } from '../helpers/world.js';

let c: TestCoordinator;
let ada: ApiClient;
let app: App;

beforeAll(async () => {
  c = await startTestCoordinator();
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
  ({ app } = await newApp(ada, 'checked'));
});
afterAll(async () => {
  await c?.dispose();
});

const MiB = 1024 * 1024;
const upload = (files: { name: string; content: string | Uint8Array }[]) => ada.upload(`/apps/${app.id}/versions`, files);

describe('an app version is checked at upload', () => {
  it.each([
    ['a syntax error', [{ name: 'main.js', content: 'export default async function run(input) {\n  return input +;\n}\n' }], /^the app version was refused: main\.js: Unexpected token \(line 2, column 16\)$/],
    ['no default export', [{ name: 'main.js', content: 'export async function run(input) { return input; }\n' }], /main\.js has no default export: the entry must export default async function run\(input, ctx\)/],
    ['an import of a file it does not have', [{ name: 'main.js', content: "import { f } from './util.js';\nexport default async () => f();\n" }], /main\.js imports "\.\/util\.js", which is not among the version's files/],
    ['an import of a host module', [{ name: 'main.js', content: "import fs from 'node:fs';\nexport default async () => fs;\n" }], /main\.js imports "node:fs": app code may import only its own files/],
    ['a syntax error in another module', [{ name: 'main.js', content: "import { f } from './util.js';\nexport default async () => f();\n" }, { name: 'util.js', content: 'export function f( {' }], /^the app version was refused: util\.js: /],
    ['a WebAssembly file that does not compile', [{ name: 'main.js', content: TRIVIAL_MAIN }, { name: 'kernel.wasm', content: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) }], /kernel\.wasm: not a WebAssembly module that compiles: /],
  ])('refuses %s, naming the file, and stores nothing', async (_what, files, message) => {
    const before = dbState(c.store.db);
    expectError(await upload(files), 400, 'bad_request', message);
    expect(dbState(c.store.db)).toEqual(before);
  });

  it('accepts a version that loads: modules importing each other, and the examples as they are', async () => {
    const ok = await upload([
      { name: 'main.js', content: "import { twice } from './util.js';\nexport default async function run(input) { return twice(input); }\n" },
      { name: 'util.js', content: 'export const twice = (x) => x * 2;\n' },
    ]);
    expect(ok.status).toBe(201);
    const primes = await upload(['main.js'].map((name) => ({ name, content: readFileSync(join(PRIMES_DIR, name)) })));
    expect(primes.status).toBe(201);
  });
});

describe('the module check', () => {
  const enc = new TextEncoder();
  const dense = (bytes: number) =>
    enc.encode(`export default 1;\n${Array.from({ length: Math.ceil(bytes / 2000) }, (_, i) => `export const a${i} = [${'1,'.repeat(1000)}0];\n`).join('')}`);

  it('answers checks sent together, one at a time', async () => {
    const checker = new ModuleChecker();
    try {
      const [a, b] = await Promise.all([
        checker.parse({ name: 'a.js', bytes: enc.encode("import { x } from './b.js';\nexport default async () => x;\n") }),
        checker.parse({ name: 'b.js', bytes: enc.encode('export const x = (;\n') }),
      ]);
      expect(a).toEqual({ imports: ['./b.js'], exports: ['default'] });
      expect(b).toEqual({ problem: 'b.js: Unexpected token (line 1, column 18)' });
    } finally {
      await checker.close();
    }
  });

  it('refuses a module over its heap or its time, naming it, and checks the next one in a fresh worker', { timeout: 60_000 }, async () => {
    const small = new ModuleChecker({ heapMb: 128, checkMs: 60_000 });
    try {
      expect(await small.parse({ name: 'data.js', bytes: dense(MiB) })).toEqual({ problem: 'data.js is too large to check: parsing it needs more than 128 MB of memory' });
      expect(await small.parse({ name: 'main.js', bytes: enc.encode('export default 1;\n') })).toEqual({ imports: [], exports: ['default'] });
    } finally {
      await small.close();
    }
    // Too short a time for any module (the worker's start counts for the first check).
    const hasty = new ModuleChecker({ heapMb: 512, checkMs: 1 });
    try {
      expect(await hasty.parse({ name: 'main.js', bytes: enc.encode('export default 1;\n') })).toEqual({ problem: 'main.js is too large to check: parsing it took longer than 0.001 s' });
    } finally {
      await hasty.close();
    }
  });
});
