// An app version is checked when it is uploaded, so that a mistake is the researcher's error
// message, not every volunteer's failed task: every module parses (the same parser volunteers
// load it with), imports only the version's own files, the entry has a default export, and every
// WebAssembly file compiles.
import { ModuleSource } from '@endo/module-source';

export interface VersionFile {
  name: string;
  bytes: Uint8Array;
}

const OWN_FILE = /^\.\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/;
/** Node's WebAssembly (the project's TypeScript libraries describe its types, not the global). */
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<unknown> } }).WebAssembly;

/** What is wrong with a version, naming the file (and line where the parser says), or undefined. */
export async function versionProblem(files: VersionFile[], entry: string): Promise<string | undefined> {
  const names = new Set(files.map((f) => f.name));
  for (const f of files) {
    if (/\.m?js$/.test(f.name)) {
      const problem = moduleProblem(f, names, f.name === entry);
      if (problem) return problem;
    } else if (f.name.endsWith('.wasm')) {
      try {
        await wasm.compile(f.bytes);
      } catch (e) {
        return `${f.name}: not a WebAssembly module that compiles: ${(e as Error).message}`;
      }
    }
  }
  if (!/\.m?js$/.test(entry)) return `the entry "${entry}" is not a JavaScript module (.js or .mjs)`;
  return undefined;
}

function moduleProblem(f: VersionFile, names: Set<string>, isEntry: boolean): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(f.bytes);
  } catch {
    return `${f.name}: not UTF-8 text`;
  }
  let source: ModuleSource;
  try {
    source = new ModuleSource(text, f.name);
  } catch (e) {
    // The parser says "Error transforming source in main.js: Unexpected token (3:7)": line 3, column 7.
    const message = (e as Error).message.replace(/^Error transforming source in [^:]*: /, '');
    return `${f.name}: ${message.replace(/\((\d+):(\d+)\)$/, '(line $1, column $2)')}`;
  }
  for (const specifier of source.imports) {
    const own = OWN_FILE.exec(specifier)?.[1];
    if (own === undefined) return `${f.name} imports "${specifier}": app code may import only its own files, as "./name.js"`;
    if (!names.has(own)) return `${f.name} imports "${specifier}", which is not among the version's files`;
  }
  if (isEntry && !source.exports.includes('default')) {
    return `${f.name} has no default export: the entry must export default async function run(input, ctx)`;
  }
  return undefined;
}
