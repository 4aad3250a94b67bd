// What a work unit gives a WASI program (app-runtime/wasi-input.ts): a string is stdin, an
// object names args, files and where the output is; anything else is refused with a message.
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, wasiInput } from '../../app-runtime/wasi-input.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('a WASI program input', () => {
  it('is a string (stdin) or an object of args, stdin, files, outputFile and output', () => {
    const plain = wasiInput('1 2');
    expect(plain).toMatchObject({ args: [], outputFile: undefined, outputJson: false });
    expect(text((plain as { stdin: Uint8Array }).stdin)).toBe('1 2');

    const full = wasiInput({ args: ['-n', '3'], stdin: 'x', files: { 'a.txt': 'é', 'b.bin': { base64: 'AAEC/w==' } }, outputFile: 'out.json', output: 'json' });
    if ('problem' in full) throw new Error(full.problem);
    expect(full.args).toEqual(['-n', '3']);
    expect(text(full.files.get('a.txt')!)).toBe('é');
    expect([...full.files.get('b.bin')!]).toEqual([0, 1, 2, 255]);
    expect(full).toMatchObject({ outputFile: 'out.json', outputJson: true });
  });

  it('refuses anything else, saying what is wrong', () => {
    const problem = (input: unknown) => (wasiInput(input) as { problem?: string }).problem;
    expect(problem(42)).toMatch(/a string \(its stdin\) or an object/);
    expect(problem({ argv: [] })).toMatch(/"argv"/);
    expect(problem({ args: [1] })).toBe('args is a list of strings');
    expect(problem({ files: { '../etc/passwd': 'x' } })).toMatch(/not a file name/);
    expect(problem({ files: { checkpoint: 'x' } })).toMatch(/"checkpoint" is the runtime's/);
    expect(problem({ files: { 'a.bin': { base64: 'not base64!' } } })).toMatch(/base64/);
    expect(problem({ outputFile: 'dir/out' })).toBe('outputFile is a flat file name');
    expect(problem({ output: 'xml' })).toMatch(/"text".*"json"/);
  });

  it('encodes checkpoints in base64 and back, whatever their length', () => {
    for (const n of [0, 1, 2, 3, 4, 255, 1000]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
      expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
      expect([...fromBase64(toBase64(bytes))]).toEqual([...bytes]);
    }
  });
});
