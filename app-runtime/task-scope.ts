// Where a task's asynchronous host capabilities end. Sandbox workers are reused, so anything a
// task leaves pending must never resume inside the next task (running there, and charged to
// it). Promise jobs alone cannot outlive a task: they drain before the worker says it is idle,
// and a worker that never drains is replaced. What can resume app code a turn of the event
// loop later is a capability the host gives it — compiling WebAssembly off the thread,
// ctx.checkpoint, ctx.file — so each one settles through its task's scope, and a scope that
// has ended settles nothing: the app's continuation is dropped instead of run.
export class TaskScope {
  private live = true;
  /** Host operations still computing for the task (a WebAssembly compilation): a worker left with any is replaced. */
  pending = 0;

  get ended(): boolean {
    return !this.live;
  }

  end(): void {
    this.live = false;
  }

  /**
   * The promise `start` returns, settled only while the task lives; once the task has ended,
   * one that never settles. `background`: `start` keeps working off the thread until it settles.
   */
  settle<T>(start: () => Promise<T>, background = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.live) return;
      let p: Promise<T>;
      try {
        p = start();
      } catch (e) {
        reject(e);
        return;
      }
      if (background) this.pending++;
      p.then(
        (v) => {
          if (background) this.pending--;
          if (this.live) resolve(v);
        },
        (e: unknown) => {
          if (background) this.pending--;
          if (this.live) reject(e);
        },
      );
    });
  }
}

/** The part of the WebAssembly namespace this wraps (the DOM and Node typings differ). */
interface Wasm {
  Module: new (bytes: never) => object;
  Instance: new (module: never, imports?: object) => object;
  compile(bytes: unknown): Promise<object>;
}

/**
 * The realm's WebAssembly namespace for one task: the same constructors, with compile and
 * instantiate settling through the task's scope. instantiate compiles first and instantiates
 * only then, synchronously, because V8's own would read the imports and run the start
 * function (app code) from the event loop, possibly after the task ended. The streaming
 * variants are left out: they take a Response, which app code has no way to make.
 */
export function taskWebAssembly(scope: TaskScope): object {
  const real = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
  const own = new Set<PropertyKey>(['compile', 'instantiate', 'compileStreaming', 'instantiateStreaming']);
  const ns: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(real)) {
    if (!own.has(key)) Object.defineProperty(ns, key, Reflect.getOwnPropertyDescriptor(real, key)!);
  }
  const methods = {
    compile(bytes: unknown): Promise<object> {
      return scope.settle(() => real.compile(bytes), true);
    },
    instantiate(source: unknown, imports?: object): Promise<object> {
      if (source instanceof real.Module) return scope.settle(async () => new real.Instance(source as never, imports));
      return scope.settle(() => real.compile(source), true).then((module) => ({ module, instance: new real.Instance(module as never, imports) }));
    },
  };
  for (const [key, value] of Object.entries(methods)) Object.defineProperty(ns, key, { value, writable: true, enumerable: false, configurable: true });
  return harden(ns);
}
