// Which files of a folder make an app version (common/app-folder.ts): .vgignore's gitignore-like
// patterns, then --exclude, hidden files never, and what keeps a folder from being one.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAppFolder, type AppFolder } from '../../common/app-folder.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A folder with these files (a name ending in / is a folder), and this .vgignore. */
function folder(names: string[], ignore?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vg-app-folder-'));
  dirs.push(dir);
  for (const name of names) {
    if (name.endsWith('/')) mkdirSync(join(dir, name));
    else writeFileSync(join(dir, name), name);
  }
  if (ignore !== undefined) writeFileSync(join(dir, '.vgignore'), ignore);
  return dir;
}

function read(dir: string, exclude: string[] = []): AppFolder {
  const got = readAppFolder(dir, exclude);
  if ('error' in got) throw new Error(got.error);
  return got;
}

const names = (f: AppFolder) => f.files.map((x) => x.name);

describe('readAppFolder', () => {
  it('takes every file without an ignore file, and never hidden ones', () => {
    const dir = folder(['main.js', 'util.js', '.DS_Store', '.git/']);
    const got = read(dir);
    expect(names(got)).toEqual(['main.js', 'util.js']);
    expect(got.leftOut).toEqual([
      { name: '.DS_Store', why: 'hidden' },
      { name: '.git/', why: 'hidden' },
    ]);
    expect(got.files[0]).toEqual({ name: 'main.js', path: join(dir, 'main.js'), size: 7 });
  });

  it("follows .vgignore's patterns as gitignore does, the last match winning", () => {
    const ignore = [
      '# generators and notes stay here',
      '*.ts',
      '',
      'notes-?.md',
      '[ab]*.bin',
      '!b-keep.bin',
      '/anchored.txt   ',
      '**/deep.txt',
      'build/',
      'cache/**',
      'data.csv/',
      '\\#literal',
    ].join('\n');
    const dir = folder(
      ['main.js', 'inputs.ts', 'notes-1.md', 'notes-10.md', 'a.bin', 'b-keep.bin', 'c.bin', 'anchored.txt', 'deep.txt', 'build/', 'cache/', 'data.csv', '#literal'],
      ignore,
    );
    const got = read(dir);
    // data.csv/ names folders only; notes-10.md has two characters where ? takes one
    expect(names(got)).toEqual(['b-keep.bin', 'c.bin', 'data.csv', 'main.js', 'notes-10.md']);
    expect(got.leftOut).toEqual([
      { name: '#literal', why: '.vgignore line 12: \\#literal' },
      { name: '.vgignore', why: 'hidden' },
      { name: 'a.bin', why: '.vgignore line 5: [ab]*.bin' },
      { name: 'anchored.txt', why: '.vgignore line 7: /anchored.txt' },
      { name: 'build/', why: '.vgignore line 9: build/' },
      { name: 'cache/', why: '.vgignore line 10: cache/**' },
      { name: 'deep.txt', why: '.vgignore line 8: **/deep.txt' },
      { name: 'inputs.ts', why: '.vgignore line 2: *.ts' },
      { name: 'notes-1.md', why: '.vgignore line 4: notes-?.md' },
    ]);
  });

  it('applies --exclude after .vgignore, and says which patterns matched nothing', () => {
    const dir = folder(['main.js', 'inputs.ts', 'README.md', 'keep.ts'], '*.ts\n!keep.ts\n');
    const got = read(dir, ['*.md', 'keep.ts', 'inptus.ts']);
    expect(names(got)).toEqual(['main.js']);
    expect(got.leftOut.filter((l) => l.why.startsWith('--'))).toEqual([
      { name: 'README.md', why: '--exclude *.md' },
      { name: 'keep.ts', why: '--exclude keep.ts' },
    ]);
    expect(got.unmatched).toEqual(['inptus.ts']);
  });

  it('says what keeps a folder from being an app version', () => {
    const error = (dir: string, exclude: string[] = []) => {
      const got = readAppFolder(dir, exclude);
      return 'error' in got ? got.error : 'no error';
    };
    const nested = folder(['main.js', 'lib/']);
    expect(error(nested)).toBe(
      `${join(nested, 'lib')} is a folder, and an app version is a flat set of files: move what the app needs next to its entry module, or leave the folder out (lib/ in .vgignore, or --exclude lib/)`,
    );
    expect(error(nested, ['lib/'])).toBe('no error');
    expect(error(folder(['main.js'], 'lib/util.js\n'))).toBe(
      ".vgignore line 1: 'lib/util.js' names something inside a subfolder, but an app version is a flat set of files: name files or folders directly in the app folder",
    );
    expect(error(folder(['main.js']), ['!'])).toBe("--exclude !: '!' names nothing");
    const spaced = folder(['main.js', 'my notes.txt']);
    expect(error(spaced)).toMatch(/^.*\/my notes\.txt cannot be part of an app version: file names are 1-128 characters of A-Z a-z 0-9 \. _ - .*; rename it, or leave it out with \.vgignore or --exclude$/);
    expect(error(spaced, ['my notes.txt'])).toBe('no error');
    const linked = folder(['main.js']);
    symlinkSync(join(linked, 'gone.js'), join(linked, 'link.js'));
    expect(error(linked)).toBe(`${join(linked, 'link.js')} is a link to nothing: remove it, or leave it out with .vgignore`);
    expect(error(folder([], '*\n'))).toBe(`${dirs.at(-1)} holds no files to upload (left out: .vgignore)`);
    expect(error(join(nested, 'nowhere'))).toBe(`${join(nested, 'nowhere')} does not exist`);
    expect(error(join(nested, 'main.js'))).toBe(`${join(nested, 'main.js')} is not a folder`);
    expect(error(folder(Array.from({ length: 65 }, (_, i) => `f${i}.js`)))).toMatch(/holds 65 files to upload, and an app version has at most 64/);
  });
});
