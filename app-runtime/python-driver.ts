// The Python side of the Python runtime (python-runtime.ts), run once when an interpreter has
// loaded, before any app code: it takes Pyodide's JavaScript bridge out of the interpreter's
// reach, records the state every task starts from, and defines `_vg_run_task`, which runs one
// task of an app version (docs/apps.md, "Python apps", is the contract).
//
// The bridge is taken away in layers, since no single Python-level measure holds against code
// that can introspect the interpreter:
// 1. the `js` and `pyodide_js` modules are unregistered (by python-runtime.ts) and every module
//    of the bridge is dropped from sys.modules;
// 2. a finder first on sys.meta_path refuses to import them again (`import js`,
//    `__import__('js')`, importlib), and ctypes, which could forge a reference to a JavaScript
//    object in memory;
// 3. an audit hook (which no Python code can remove) refuses what reaches around the finder or
//    into other objects' references: builtin modules created directly, gc's object walks,
//    ctypes, os.system and subprocesses, sockets, and adding other audit hooks;
// 4. underneath, what the interpreter can reach at all is decided by its WebAssembly imports
//    (python-world.ts), and the JavaScript the bridge led to lives in a realm locked down with
//    SES, whose `js` globals object is empty.
export const PYTHON_DRIVER = String.raw`
import builtins, gc, importlib.abc, json, os, sys, traceback, types

_BRIDGE = frozenset({'js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'micropip', 'pyodide_http', 'ctypes', '_ctypes'})

def _bridged(name):
    return isinstance(name, str) and name.partition('.')[0] in _BRIDGE

def _refusal(name):
    return ModuleNotFoundError(f"No module named {name!r}: Python apps run without Pyodide's JavaScript bridge and ctypes", name=name)

class _RefuseBridge(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _bridged(name):
            raise _refusal(name)
        return None

for _name in list(sys.modules):
    if _bridged(_name):
        del sys.modules[_name]
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ not in ('JsFinder', 'WindowsToLinuxPathFinder')]
sys.meta_path.insert(0, _RefuseBridge())
sys.path_importer_cache.clear()

# Modules a task may not leave changed for the next: everything imported after this point is
# dropped before the next task, and these have their globals put back. What Pyodide imported
# for itself goes too (it is imported again, fresh, by a task that wants it).
_CORE = frozenset(sys.builtin_module_names) | {
    '__main__', '_collections_abc', '_sitebuiltins', 'abc', 'codecs', 'encodings', 'genericpath', 'io', 'os', 'os.path',
    'posixpath', 'site', 'stat', 'zipimport', 'importlib', 'importlib._bootstrap', 'importlib._bootstrap_external',
    'importlib.machinery', 'importlib.abc', 'importlib.util', 'importlib._abc', 'types', 'json', 'json.decoder',
    'json.encoder', 'json.scanner', 're', 're._casefix', 're._compiler', 're._constants', 're._parser', 'enum',
    'functools', 'operator', 'keyword', 'reprlib', 'collections', 'copyreg', 'traceback', 'linecache', 'contextlib',
    'collections.abc', 'textwrap', 'warnings', 'tokenize', 'token', 'itertools', 'weakref', '_weakrefset',
}
for _name in list(sys.modules):
    if _name not in _CORE and not _name.startswith('encodings.'):
        del sys.modules[_name]
gc.collect()
_BASE_MODULES = frozenset(sys.modules)
_SNAPSHOT = {name: dict(m.__dict__) for name, m in sys.modules.items() if isinstance(m, types.ModuleType)}
_BASE_PATH = list(sys.path)
_BASE_META = list(sys.meta_path)
_BASE_HOOKS = list(sys.path_hooks)
_BASE_ENV = dict(os.environ)
_BASE_LIMITS = (sys.getrecursionlimit(), sys.get_int_max_str_digits())
_HOME = '/home/pyodide'
_SKIP = ('/dev', '/proc')

def _tree():
    seen = set()
    for root, dirs, files in os.walk('/'):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in _SKIP]
        for n in dirs + files:
            seen.add(os.path.join(root, n))
    return seen

_BASE_TREE = _tree()

_REFUSED_EVENTS = frozenset({'gc.get_objects', 'gc.get_referrers', 'gc.get_referents', 'os.system',
    'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork', 'os.forkpty', 'subprocess.Popen', 'socket.connect', 'socket.bind',
    'socket.getaddrinfo', 'socket.gethostbyname', 'socket.sendto', 'webbrowser.open'})

def _audit(event, args):
    if event == 'sys.addaudithook':
        # A RuntimeError is how a hook refuses another one (and the caller is not told).
        raise RuntimeError('no more audit hooks')
    if event in _REFUSED_EVENTS or event.startswith('ctypes.'):
        raise PermissionError(f'{event} is not available to Python apps')
    if event == 'import' and args and _bridged(args[0]):
        raise _refusal(args[0])

sys.addaudithook(_audit)

def _reset():
    """Puts the interpreter back as it was before the first task."""
    for name in [n for n in sys.modules if n not in _BASE_MODULES]:
        del sys.modules[name]
    for name, snap in _SNAPSHOT.items():
        m = sys.modules.get(name)
        if m is None:
            continue
        d = m.__dict__
        d.update(snap)
        for k in [k for k in d if k not in snap]:
            del d[k]
    sys.path[:] = _BASE_PATH
    sys.meta_path[:] = _BASE_META
    sys.path_hooks[:] = _BASE_HOOKS
    sys.path_importer_cache.clear()
    sys.settrace(None)
    sys.setprofile(None)
    sys.setrecursionlimit(_BASE_LIMITS[0])
    sys.set_int_max_str_digits(_BASE_LIMITS[1])
    os.environ.clear()
    os.environ.update(_BASE_ENV)
    for path in sorted(_tree() - _BASE_TREE, reverse=True):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass
    os.chdir(_HOME)
    gc.enable()
    gc.collect()

class _AppFiles(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The app version's own .py files, importable by their names (import util)."""
    def __init__(self, sources):
        self.sources = sources
    def find_spec(self, name, path=None, target=None):
        if path is None and name + '.py' in self.sources:
            return importlib.util.spec_from_loader(name, self, origin=name + '.py')
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        name = module.__spec__.origin
        module.__file__ = name
        exec(compile(self.sources[name], name, 'exec', dont_inherit=True), module.__dict__)

class _Stop(BaseException):
    """A limit the volunteer checks ended the task: nothing of the app runs further."""

def _where(e, sources):
    """The app's own frame nearest to the error: (file, line, function)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in sources]
    if isinstance(e, SyntaxError) and e.filename in sources:
        return f' ({e.filename}, line {e.lineno})'
    return f' ({frames[-1].filename}, line {frames[-1].lineno}, in {frames[-1].name})' if frames else ''

def _describe(e, sources):
    try:
        return f'{type(e).__name__}: {e}{_where(e, sources)}'
    except BaseException:
        return f'{type(e).__name__} (its message could not be read)'

_MAX_SAFE = 2 ** 53

def _plain(value, depth=0):
    """The output as JSON values, refusing what JSON cannot carry exactly."""
    if depth > 64:
        raise ValueError('the output nests deeper than 64 levels')
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE:
            raise ValueError(f'the integer {value} is beyond 2**53, which JSON numbers cannot carry exactly: return it as a string')
        return value
    if isinstance(value, float):
        if value != value or value in (float('inf'), float('-inf')):
            raise ValueError(f'{value} is not a JSON number')
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f'the key {k!r} is not a string')
            out[k] = _plain(v, depth + 1)
        return out
    raise ValueError(f'a {type(value).__name__} is not a JSON value')

def _result(**fields):
    return json.dumps(fields)

def _vg_run_task(entry, sources_json, input_json, resume_json, seed, host):
    _reset()
    sources = json.loads(sources_json)
    finder = _AppFiles(sources)
    sys.meta_path.insert(1, finder)
    try:
        return _run(entry, sources, input_json, resume_json, seed, host)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()

def _run(entry, sources, input_json, resume_json, seed, host):
    stopped = []
    def stop_if_stopped():
        if stopped:
            raise _Stop()

    def progress(fraction):
        stop_if_stopped()
        if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
            host.progress(float(fraction))

    def checkpoint(state):
        stop_if_stopped()
        text = json.dumps(_plain(state), ensure_ascii=False, allow_nan=False)
        problem = host.checkpoint(text)
        if problem is not None:
            stopped.append(problem)
            raise _Stop()

    def file(name):
        stop_if_stopped()
        if not isinstance(name, str) or not host.hasFile(name):
            raise FileNotFoundError(f'this app version has no file {name!r}')
        return bytes(host.file(name).to_py())

    def log(*args):
        print(*args)

    ctx = types.SimpleNamespace(
        seed=seed,
        resume=None if resume_json is None else json.loads(resume_json),
        progress=progress,
        checkpoint=checkpoint,
        random=lambda: host.random(),
        file=file,
        log=log,
    )

    module_name = entry[:-3]
    try:
        module = importlib.import_module(module_name)
        run = getattr(module, 'run', None)
    except _Stop:
        return _result(code='checkpoint_limit', message=stopped[0] if stopped else 'stopped')
    except BaseException as e:
        return _result(code='app_load_failed', message=_describe(e, sources))
    if not callable(run):
        return _result(code='app_load_failed', message=f'{entry} must define run(input, ctx)')
    try:
        output = run(json.loads(input_json), ctx)
        if stopped:
            raise _Stop()
    except _Stop:
        return _result(code='checkpoint_limit', message=stopped[0] if stopped else 'stopped')
    except SystemExit as e:
        if stopped:
            return _result(code='checkpoint_limit', message=stopped[0])
        code = e.code
        if code is None or code == 0:
            return _result(code='bad_output', message='run() called sys.exit(0) instead of returning its output')
        return _result(code='app_exit', message=f'the program exited with code {code}' if isinstance(code, int) else f'the program exited: {code}')
    except BaseException as e:
        if stopped:
            return _result(code='checkpoint_limit', message=stopped[0])
        return _result(code='app_exception', message=_describe(e, sources))
    try:
        return _result(output=json.dumps(_plain(output), ensure_ascii=False, allow_nan=False))
    except BaseException as e:
        return _result(code='bad_output', message=f'the output is not JSON: {_describe(e, sources)}')
`;
