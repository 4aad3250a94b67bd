// Both ends of a worker thread that checks uploads off the event loop (parsing a researcher's
// code can take seconds and gigabytes). One check at a time: a check's time counts only its own
// work (and the worker's start, for the first), and only one heap of the worker's size exists
// however many uploads arrive together. The worker is kept for the next check, since starting
// one costs up to seconds (loading a parser, or Pyodide), and ended when idle. A check that takes
// longer than its time, or a worker that runs out of its heap, ends the worker; that check is
// answered with why, and the next one starts a fresh worker.
import { parentPort, Worker, type ResourceLimits } from 'node:worker_threads';

export interface CheckWorkerOptions {
  /** The worker's module; a `.ts` one is started through check-worker-boot.mjs. */
  url: URL;
  /** How long one check may take, from when it is sent to the worker. */
  checkMs: number;
  /** How long a worker is kept with nothing to check. */
  idleMs: number;
  resourceLimits?: ResourceLimits;
}

/** Why a check has no answer: it took too long, ran out of memory, or the worker failed (`message` says how, as "took longer than 60 s"). */
export interface Failed {
  failed: 'time' | 'memory' | 'crash';
  message: string;
}

/** The worker's answer, or why there is none. */
export type Checked<A> = { answer: A } | Failed;

const BOOT_URL = new URL('./check-worker-boot.mjs', import.meta.url);

interface Pending<Q, A> {
  request: Q;
  resolve: (c: Checked<A>) => void;
}

interface Running {
  worker: Worker;
  ready: Promise<void>;
}

export class CheckWorker<Q, A> {
  private running: Running | undefined;
  private readonly queue: Pending<Q, A>[] = [];
  private current: (Pending<Q, A> & { timer: NodeJS.Timeout }) | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly options: CheckWorkerOptions) {}

  check(request: Q): Promise<Checked<A>> {
    return new Promise((resolve) => {
      this.queue.push({ request, resolve });
      this.next();
    });
  }

  /** Ends the worker; checks waiting or running are answered as failed. */
  async close(): Promise<void> {
    for (const p of this.queue.splice(0)) p.resolve({ failed: 'crash', message: 'the check was closed' });
    clearTimeout(this.idle);
    if (this.running) await this.end(this.running);
  }

  private next(): void {
    if (this.current || this.queue.length === 0) return;
    clearTimeout(this.idle);
    const w = (this.running ??= this.start());
    const { checkMs } = this.options;
    const timer = setTimeout(() => void this.end(w, { failed: 'time', message: `took longer than ${checkMs / 1000} s` }), checkMs);
    const current = { ...this.queue.shift()!, timer };
    this.current = current;
    void w.ready.then(() => {
      if (this.current === current) w.worker.postMessage(current.request);
    });
  }

  private start(): Running {
    const { url, resourceLimits } = this.options;
    const boot = url.pathname.endsWith('.ts');
    const worker = new Worker(boot ? BOOT_URL : url, { workerData: boot ? { entry: url.href } : undefined, resourceLimits, stdout: true, stderr: true });
    worker.stdout.resume(); // what a parser prints is nobody's business
    worker.stderr.resume();
    worker.unref();
    let ready!: () => void;
    const w: Running = { worker, ready: new Promise<void>((resolve) => (ready = resolve)) };
    worker.on('message', (m: { ready: true } | { answer: A }) => {
      if ('ready' in m) return ready();
      const c = this.current;
      if (!c || this.running !== w) return;
      clearTimeout(c.timer);
      this.current = undefined;
      c.resolve({ answer: m.answer });
      this.afterCheck(w);
    });
    worker.on('error', (e: Error & { code?: string }) => {
      const memory = e.code === 'ERR_WORKER_OUT_OF_MEMORY';
      void this.end(w, memory ? { failed: 'memory', message: `needs more than ${resourceLimits?.maxOldGenerationSizeMb} MB of memory` } : { failed: 'crash', message: e.message });
    });
    worker.on('exit', (code) => void this.end(w, { failed: 'crash', message: `its worker exited with code ${code}` }));
    return w;
  }

  /** Ends worker `w`, if it is still the one in use, answering its check with `why`. */
  private async end(w: Running, why: Failed = { failed: 'crash', message: 'the check was closed' }): Promise<void> {
    if (this.running !== w) return;
    this.running = undefined;
    const c = this.current;
    this.current = undefined;
    if (c) {
      clearTimeout(c.timer);
      c.resolve(why);
    }
    this.next();
    await w.worker.terminate();
  }

  private afterCheck(w: Running): void {
    if (this.queue.length > 0) return this.next();
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.running === w && !this.current) void this.end(w);
    }, this.options.idleMs);
    this.idle.unref();
  }
}

/** The worker's side: answers each request with `check`'s answer, one at a time. */
export function answerChecks<Q, A>(check: (request: Q) => A | Promise<A>): void {
  const port = parentPort;
  if (!port) throw new Error('a check worker runs as a worker thread');
  port.on('message', async (request: Q) => port.postMessage({ answer: await check(request) }));
  port.postMessage({ ready: true });
}
