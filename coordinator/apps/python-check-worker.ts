// The worker thread of python-check.ts: loads Pyodide once and, for each version it is sent,
// compiles every .py file (compile() only parses and compiles: no app code runs) and looks for
// the entry's top-level `run`. Answers one problem or none per version.
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';
import { answerChecks } from './check-worker.js';
import type { PythonRequest } from './python-check.js';

const CHECK = String.raw`
import ast, json

def check(files_json, entry):
    files = json.loads(files_json)
    for name in sorted(files):
        try:
            tree = compile(files[name], name, 'exec', flags=ast.PyCF_ONLY_AST, dont_inherit=True)
            compile(tree, name, 'exec', dont_inherit=True)
        except SyntaxError as e:
            where = f'line {e.lineno}' + (f', column {e.offset}' if e.offset else '')
            return f'{name}: {type(e).__name__}: {e.msg} ({where})'
        except (ValueError, RecursionError, MemoryError) as e:
            return f'{name}: does not compile: {e}'
        if name == entry and not any(_binds_run(node) for node in tree.body):
            return f'{name} defines no run: the entry must define run(input, ctx) at its top level'
    return None

def _binds_run(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name == 'run'
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == 'run' for t in node.targets)
    if isinstance(node, ast.ImportFrom):
        return any((a.asname or a.name) == 'run' for a in node.names)
    return False

check
`;

const pyodide = await loadPyodide({ indexURL: fileURLToPath(new URL('.', import.meta.resolve('pyodide'))), stdout: () => {}, stderr: () => {} });
const check = pyodide.runPython(CHECK) as (files: string, entry: string) => string | undefined;

answerChecks(({ files, entry }: PythonRequest): string | null => {
  try {
    return check(JSON.stringify(files), entry) ?? null;
  } catch (e) {
    return `the Python check failed: ${e instanceof Error ? e.message : String(e)}`;
  }
});
