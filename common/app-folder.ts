// The files of an app folder that make up an app version, as `volunteer-grid apps upload`
// sends them and as the examples' catalog reads them, so the demo and the tests run exactly
// what an upload of an example folder would.
//
// An app version is a flat set of files (docs/apps.md). What else a folder holds — an input
// generator, a kernel's source, notes — is left out by an ignore file, `.vgignore`, and by
// `--exclude` patterns, with gitignore's rules where a flat folder has use for them: one
// pattern a line, `#` comments, `*` `?` `[a-z]` wildcards, `!` to take a file back in, a
// trailing `/` for folders only, the last pattern that matches wins. A pattern that names
// something inside a subfolder is refused: nothing inside one can be uploaded. Hidden entries
// (a name starting with a dot, `.vgignore` itself) are always left out: no app file may be
// named so. Written here rather than taken from a gitignore library because a flat folder
// needs only name matching, and Node 20 has no glob matcher of its own (path.matchesGlob is 22).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_APP_FILES } from '../protocol/limits.js';
import { FileName } from '../protocol/messages.js';

export const IGNORE_FILE = '.vgignore';

export interface AppFolderFile {
  name: string;
  path: string;
  size: number;
}

export interface LeftOut {
  /** Its name in the folder; a folder's ends in "/". */
  name: string;
  /** The rule that left it out: ".vgignore line 3: inputs.ts", "--exclude *.md", "hidden". */
  why: string;
}

export interface AppFolder {
  files: AppFolderFile[];
  leftOut: LeftOut[];
  /** --exclude patterns that matched nothing (a typo, often). */
  unmatched: string[];
}

interface Rule {
  /** Where it was written and what it says, for messages: ".vgignore line 3: inputs.ts", "--exclude *.md". */
  why: string;
  negate: boolean;
  foldersOnly: boolean;
  regex: RegExp;
}

/** A pattern as a rule (undefined for a blank line or a comment), or what is wrong with it. */
export function parsePattern(line: string, source: string): Rule | { error: string } | undefined {
  let text = line.replace(/\r$/, '');
  // Trailing spaces do not count unless escaped, as in gitignore.
  text = text.replace(/(?<!\\)\s+$/, '');
  if (text === '' || text.startsWith('#')) return undefined;
  let negate = false;
  if (text.startsWith('!')) {
    negate = true;
    text = text.slice(1);
  } else if (text.startsWith('\\!') || text.startsWith('\\#')) {
    text = text.slice(1);
  }
  const pattern = text;
  let foldersOnly = false;
  if (text.endsWith('/**')) {
    // everything inside a folder: the folder, since nothing in one can go anyway
    text = text.slice(0, -3);
    foldersOnly = true;
  }
  if (text.endsWith('/')) {
    text = text.slice(0, -1);
    foldersOnly = true;
  }
  text = text.replace(/^\//, '').replace(/^(\*\*\/)+/, '');
  if (text === '') return { error: `${source}: '${line.trim()}' names nothing` };
  if (text.includes('/')) {
    return { error: `${source}: '${pattern}' names something inside a subfolder, but an app version is a flat set of files: name files or folders directly in the app folder` };
  }
  const why = source.startsWith('--') ? source : `${source}: ${line.trim()}`;
  return { why, negate, foldersOnly, regex: globToRegex(text) };
}

/** A gitignore wildcard pattern for one name: * ? [..] and \ escapes. */
function globToRegex(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) out += escape(glob[++i]!);
    else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += escape(c);
  }
  return new RegExp(`^${out}$`);
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The rules of `dir`'s ignore file, then the --exclude patterns (each with its pattern); or what is wrong with one. */
function rules(dir: string, exclude: readonly string[]): (Rule & { excluded?: string })[] | { error: string } {
  const all: (Rule & { excluded?: string })[] = [];
  let text: string | undefined;
  try {
    text = readFileSync(join(dir, IGNORE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { error: `cannot read ${join(dir, IGNORE_FILE)}: ${(e as Error).message}` };
  }
  const lines = text?.split('\n') ?? [];
  for (const [i, line] of lines.entries()) {
    const rule = parsePattern(line, `${IGNORE_FILE} line ${i + 1}`);
    if (rule && 'error' in rule) return rule;
    if (rule) all.push(rule);
  }
  for (const pattern of exclude) {
    const rule = parsePattern(pattern, `--exclude ${pattern}`);
    if (rule && 'error' in rule) return rule;
    if (!rule) return { error: `--exclude '${pattern}' names nothing` };
    all.push({ ...rule, excluded: pattern });
  }
  return all;
}

/**
 * The files of the app version in `dir`, what was left out and why, or what keeps the folder
 * from being one (a subfolder not left out, a name no app file may have, too many files).
 */
export function readAppFolder(dir: string, exclude: readonly string[] = []): AppFolder | { error: string } {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? `${dir} does not exist` : code === 'ENOTDIR' ? `${dir} is not a folder` : `cannot read ${dir}: ${(e as Error).message}` };
  }
  const found = rules(dir, exclude);
  if ('error' in found) return found;
  const used = new Set<Rule>();
  const files: AppFolderFile[] = [];
  const leftOut: LeftOut[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let stat;
    try {
      stat = statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { error: code === 'ENOENT' ? `${path} is a link to nothing: remove it, or leave it out with ${IGNORE_FILE}` : `cannot read ${path}: ${(e as Error).message}` };
    }
    const folder = stat.isDirectory();
    const shown = folder ? `${name}/` : name;
    if (name.startsWith('.')) {
      leftOut.push({ name: shown, why: 'hidden' });
      continue;
    }
    let decided: Rule | undefined;
    for (const rule of found) {
      if (rule.foldersOnly && !folder) continue;
      if (!rule.regex.test(name)) continue;
      used.add(rule);
      decided = rule;
    }
    if (decided && !decided.negate) {
      leftOut.push({ name: shown, why: decided.why });
      continue;
    }
    if (folder) {
      return { error: `${path} is a folder, and an app version is a flat set of files: move what the app needs next to its entry module, or leave the folder out (${name}/ in ${IGNORE_FILE}, or --exclude ${name}/)` };
    }
    if (!stat.isFile()) return { error: `${path} is not a regular file: leave it out with ${IGNORE_FILE} or --exclude` };
    const named = FileName.safeParse(name);
    if (!named.success) return { error: `${path} cannot be part of an app version: ${named.error.issues[0]?.message}; rename it, or leave it out with ${IGNORE_FILE} or --exclude` };
    files.push({ name, path, size: stat.size });
  }
  if (files.length === 0) return { error: `${dir} holds no files to upload${leftOut.length > 0 ? ` (left out: ${leftOut.map((l) => l.name).join(', ')})` : ''}` };
  if (files.length > MAX_APP_FILES) return { error: `${dir} holds ${files.length} files to upload, and an app version has at most ${MAX_APP_FILES}: leave some out with ${IGNORE_FILE} or --exclude` };
  const unmatched = found.filter((r) => r.excluded !== undefined && !used.has(r)).map((r) => r.excluded!);
  return { files, leftOut, unmatched };
}
