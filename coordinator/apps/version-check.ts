// An app version is checked when it is uploaded, so that a mistake is the researcher's error
// message, not every volunteer's failed task: every module parses (the same parser volunteers
// load it with, in a worker thread: module-check.ts), imports only the version's own files, the
// entry has a default export, and every WebAssembly file compiles; a WASI program's entry is a
// command that imports only WASI preview 1 (what app-runtime/run-wasi.ts gives it); a Python
// app's files compile with the volunteers' Python and its entry defines run (python-check.ts).
import { kindOfEntry, type AppKind } from '../../protocol/app-kind.js';
import { ModuleChecker } from './module-check.js';
import { pythonProblem } from './python-check.js';

export interface VersionFile {
  name: string;
  bytes: Uint8Array;
}

const modules = new ModuleChecker();
const OWN_FILE = /^\.\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/;
/** Node's WebAssembly (the project's TypeScript libraries describe its types, not the global). */
interface WasmDescriptor {
  module: string;
  name: string;
  kind: string;
}
const wasm = (globalThis as unknown as {
  WebAssembly: {
    compile(bytes: Uint8Array): Promise<object>;
    Module: { imports(m: object): WasmDescriptor[]; exports(m: object): WasmDescriptor[] };
  };
}).WebAssembly;

/** What the upload found: the version's kind, or what is wrong with it (naming the file, and line where the parser says). */
export async function checkVersion(files: VersionFile[], entry: string): Promise<{ kind: AppKind } | { problem: string }> {
  const kind = kindOfEntry(entry);
  if (kind === undefined) return { problem: `the entry "${entry}" is neither a JavaScript module (.js, .mjs), a WASI program (.wasm) nor a Python app (.py)` };
  const names = new Set(files.map((f) => f.name));
  for (const f of files) {
    if (/\.m?js$/.test(f.name)) {
      const parsed = await modules.parse(f);
      const problem = 'problem' in parsed ? parsed.problem : moduleProblem(f.name, parsed, names, kind === 'javascript' && f.name === entry);
      if (problem) return { problem };
    } else if (f.name.endsWith('.wasm')) {
      let compiled: object;
      try {
        compiled = await wasm.compile(f.bytes);
      } catch (e) {
        return { problem: `${f.name}: not a WebAssembly module that compiles: ${(e as Error).message}` };
      }
      const problem = kind === 'wasi' && f.name === entry ? wasiProblem(f.name, compiled) : undefined;
      if (problem) return { problem };
    }
  }
  if (kind === 'python') {
    const problem = await pythonProblem(files, entry);
    if (problem) return { problem };
  }
  return { kind };
}

/** What is wrong with a version, or undefined. */
export async function versionProblem(files: VersionFile[], entry: string): Promise<string | undefined> {
  const checked = await checkVersion(files, entry);
  return 'problem' in checked ? checked.problem : undefined;
}

/** A WASI command: exports its memory and _start, imports only wasi_snapshot_preview1. */
function wasiProblem(name: string, module: object): string | undefined {
  const foreign = wasm.Module.imports(module).find((i) => i.module !== 'wasi_snapshot_preview1');
  if (foreign) return `${name} imports "${foreign.module}"."${foreign.name}": a WASI program may import only wasi_snapshot_preview1 (preview 1)`;
  const exports = wasm.Module.exports(module);
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    return `${name} exports no _start function: it is not a WASI command (build it as a program with a main, not a library)`;
  }
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return `${name} exports no memory`;
  return undefined;
}

/** A parsed module imports only the version's own files; the entry has a default export. */
function moduleProblem(name: string, module: { imports: string[]; exports: string[] }, names: Set<string>, isEntry: boolean): string | undefined {
  for (const specifier of module.imports) {
    const own = OWN_FILE.exec(specifier)?.[1];
    if (own === undefined) return `${name} imports "${specifier}": app code may import only its own files, as "./name.js"`;
    if (!names.has(own)) return `${name} imports "${specifier}", which is not among the version's files`;
  }
  if (isEntry && !module.exports.includes('default')) {
    return `${name} has no default export: the entry must export default async function run(input, ctx)`;
  }
  return undefined;
}
