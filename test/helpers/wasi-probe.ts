// The WASI probe of the sandbox tests (test/fixtures/wasi/probe.c, built by build.sh there).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PROBE_WASM = new Uint8Array(readFileSync(fileURLToPath(new URL('../fixtures/wasi/probe.wasm', import.meta.url))));
