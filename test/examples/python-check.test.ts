// The upload check of Python apps, with the Python volunteers run (Pyodide in a worker thread of
// the coordinator): the example and the probe are found to be Python apps; a syntax error is
// refused with its file and line, an entry without run and text that is not UTF-8 are refused;
// nothing of the app runs while it is checked.
import { describe, expect, it } from 'vitest';
import { checkVersion } from '../../coordinator/apps/version-check.js';
import { EXAMPLES } from '../../examples/catalog.js';
import { PYTHON_PROBE } from '../helpers/python-probe.js';

const enc = new TextEncoder();
const py = (files: Record<string, string>) => Object.entries(files).map(([name, text]) => ({ name, bytes: enc.encode(text) }));

describe('the upload check of Python apps', () => {
  it('finds the example and the probe to be Python apps; the example uploads only main.py', { timeout: 180_000 }, async () => {
    const files = await EXAMPLES.piHex.files();
    expect(files.map((f) => f.name)).toEqual(['main.py']);
    expect(await checkVersion(files, 'main.py')).toEqual({ kind: 'python' });
    expect(await checkVersion(py({ 'main.py': PYTHON_PROBE }), 'main.py')).toEqual({ kind: 'python' });
    expect(await checkVersion(py({ 'main.py': 'from impl import run\n', 'impl.py': 'def run(input, ctx):\n    return 1\n' }), 'main.py')).toEqual({ kind: 'python' });
  });

  it('refuses what does not compile or defines no run, saying where; and runs nothing', { timeout: 180_000 }, async () => {
    expect(await checkVersion(py({ 'main.py': 'def run(input, ctx):\n    return 1\n', 'util.py': 'x = (1,\ny = 2\n' }), 'main.py')).toEqual({
      problem: "util.py: SyntaxError: '(' was never closed (line 1, column 5)",
    });
    expect(await checkVersion(py({ 'main.py': 'def run(input, ctx)\n    return 1\n' }), 'main.py')).toEqual({
      problem: "main.py: SyntaxError: expected ':' (line 1, column 20)",
    });
    expect(await checkVersion(py({ 'main.py': 'def main(input, ctx):\n    return 1\n' }), 'main.py')).toEqual({
      problem: 'main.py defines no run: the entry must define run(input, ctx) at its top level',
    });
    expect(await checkVersion([{ name: 'main.py', bytes: new Uint8Array([0xff, 0xfe]) }], 'main.py')).toEqual({ problem: 'main.py: not UTF-8 text' });
    // compiled, never run: the loop would never end
    expect(await checkVersion(py({ 'main.py': 'while True:\n    pass\n\ndef run(input, ctx):\n    return 1\n' }), 'main.py')).toEqual({ kind: 'python' });
  });
});
