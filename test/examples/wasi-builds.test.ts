// The WASI programs are committed built (examples/collatz/main.wasm, the tests' probe), so that
// uploads and tests need no compiler. Each build.sh is their reproducible build: with Debian's
// clang and wasi-libc installed (as .ci/run installs them), building again gives exactly the
// committed bytes. The upload check accepts them as WASI commands.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkVersion } from '../../coordinator/apps/version-check.js';
import { EXAMPLES, EXAMPLES_DIR } from '../../examples/catalog.js';

const PROBE_DIR = fileURLToPath(new URL('../fixtures/wasi/', import.meta.url));
const BUILDS = [
  { script: join(EXAMPLES_DIR, 'collatz', 'build.sh'), built: join(EXAMPLES_DIR, 'collatz', 'main.wasm') },
  { script: join(PROBE_DIR, 'build.sh'), built: join(PROBE_DIR, 'probe.wasm') },
];

function hasWasiToolchain(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return existsSync('/usr/lib/wasm32-wasi/libc.a');
  } catch {
    return false;
  }
}

const skip = !hasWasiToolchain() && process.env.CI !== 'true';
if (skip) console.warn('[wasi builds] rebuild check skipped: install the toolchain with `apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32`');

describe('the committed WASI programs', () => {
  it.skipIf(skip)('are exactly what their build.sh makes from their C source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-wasi-build-'));
    try {
      for (const { script, built } of BUILDS) {
        const out = join(dir, 'out.wasm');
        execFileSync('sh', [script, out]);
        expect(Buffer.from(readFileSync(out)).equals(readFileSync(built)), `${built} is not what ${script} builds`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are found to be WASI programs by the upload check, and the example uploads only main.wasm', async () => {
    const files = await EXAMPLES.collatz.files();
    expect(files.map((f) => f.name)).toEqual(['main.wasm']);
    expect(await checkVersion(files, 'main.wasm')).toEqual({ kind: 'wasi' });
    const probe = [{ name: 'probe.wasm', bytes: new Uint8Array(readFileSync(join(PROBE_DIR, 'probe.wasm'))) }];
    expect(await checkVersion(probe, 'probe.wasm')).toEqual({ kind: 'wasi' });
  });

  it('refuses what is not a WASI command, saying why', async () => {
    // (module (func (export "f"))): no _start, no memory
    const library = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 4, 1, 2, 0, 11]);
    expect(await checkVersion([{ name: 'main.wasm', bytes: library }], 'main.wasm')).toEqual({
      problem: 'main.wasm exports no _start function: it is not a WASI command (build it as a program with a main, not a library)',
    });
    // (module (import "env" "f" (func))): an import a WASI program is not given
    const foreign = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 9, 1, 3, 101, 110, 118, 1, 102, 0, 0]);
    expect(await checkVersion([{ name: 'main.wasm', bytes: foreign }], 'main.wasm')).toEqual({
      problem: 'main.wasm imports "env"."f": a WASI program may import only wasi_snapshot_preview1 (preview 1)',
    });
    expect(await checkVersion([{ name: 'main.rb', bytes: new Uint8Array() }], 'main.rb')).toEqual({
      problem: 'the entry "main.rb" is neither a JavaScript module (.js, .mjs), a WASI program (.wasm) nor a Python app (.py)',
    });
  });
});
