// An app version is checked when it is uploaded, through the real API: a mistake is refused with
// the file, line and message, and nothing is stored — before any volunteer fails a task on it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
