// The hostile Python app of the sandbox tests (test/fixtures/python/probe.py).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PYTHON_PROBE = readFileSync(fileURLToPath(new URL('../fixtures/python/probe.py', import.meta.url)), 'utf8');
