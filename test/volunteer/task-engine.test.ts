// The volunteer task engine (volunteer-core/task-engine.ts) with in-memory adapters: a
// journal in maps, a scripted link, a sandbox runner the test finishes by hand, and a clock
// the test moves. Real signatures (tweetnacl) throughout, so verification is the real one.
import { describe, expect, it } from 'vitest';
import type { AppBundle } from '../../app-runtime/run-app.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { MAX_RESULT_LOG_CHARS, MAX_RESULT_LOG_LINES } from '../../protocol/limits.js';
import { ResultsReportV3Schema, UnsignedResultSchema, type ResultAck, type TaskVerdict, type UnsignedResult, type UnsignedTask } from '../../protocol/messages.js';
import { resultListVerdicts, taskListBody } from '../../protocol/signed-lists.js';
import { signBody, verifyBody } from '../../protocol/signing.js';
import { UploadRefused, VerificationError } from '../../volunteer-core/app-cache.js';
import type { Clock, TimerId } from '../../volunteer-core/clock.js';
import { CallError, type LinkEvents, type Session } from '../../volunteer-core/coordinator-link.js';
import { syncCrypto } from '../../volunteer-core/crypto.js';
import { Emitter } from '../../volunteer-core/emitter.js';
import {
  TaskEngine,
  type AppSource,
  type CreditStore,
  type EngineEvents,
  type EngineLink,
  type Finished,
  type SandboxJob,
  type SandboxRunner,
  type TaskEvents,
  type TaskJournal,
} from '../../volunteer-core/task-engine.js';

const ed = tweetnaclEd25519();
const crypto = syncCrypto(ed);
const keyPair = () => {
  const seed = toHex(ed.randomSeed());
  return { seed, publicKey: toHex(ed.publicKeyFromSeed(fromHex(seed))) };
};
const coordinator = keyPair();
const host = keyPair();
const APP_HASH = 'a'.repeat(64);
const RETRY_MS = 1_000;

/** A task as the coordinator sends it (protocol 3): its reply's list signs it (ScriptedLink.offer). */
function aTask(taskId: number, overrides: Partial<UnsignedTask> = {}): UnsignedTask {
  const input = { n: taskId };
  const body = {
    taskId,
    workunitId: 1000 + taskId,
    hostKey: host.publicKey,
    appVersionHash: APP_HASH,
    inputHash: jsonHash(input),
    deadline: Date.now() + 3_600_000,
    rngSeed: 'b'.repeat(64),
    fpopsEst: 1e9,
    issuedAt: Date.now(),
  };
  return { ...body, input, project: 'demo', app: 'primes', ...overrides };
}

function signedList(tasks: readonly UnsignedTask[], seed = coordinator.seed) {
  const body = taskListBody(host.publicKey, tasks);
  return { ...body, signature: signBody(ed, seed, 'taskList', body) };
}

class MemoryJournal implements TaskJournal {
  readonly taskMap = new Map<number, UnsignedTask>();
  readonly checkpoints = new Map<number, string>();
  readonly resultMap = new Map<number, UnsignedResult>();
  async saveTask(task: UnsignedTask) {
    this.taskMap.set(task.taskId, task);
  }
  async saveCheckpoint(taskId: number, json: string) {
    this.checkpoints.set(taskId, json);
  }
  async checkpoint(taskId: number) {
    return this.checkpoints.get(taskId);
  }
  async saveResult(result: UnsignedResult) {
    this.resultMap.set(result.taskId, result);
  }
  async forget(taskId: number) {
    this.taskMap.delete(taskId);
    this.checkpoints.delete(taskId);
    this.resultMap.delete(taskId);
  }
  async tasks() {
    return [...this.taskMap.values()];
  }
  async results() {
    return [...this.resultMap.values()];
  }
}

interface Run {
  job: SandboxJob;
  events: TaskEvents;
  finish(f: Finished): void;
}

class ManualRunner implements SandboxRunner {
  readonly runs: Run[] = [];
  readonly aborted: number[] = [];
  constructor(private readonly slots: number) {}
  get idle() {
    return this.slots - this.runs.filter((r) => !('done' in r)).length;
  }
  run(job: SandboxJob, events: TaskEvents) {
    if (this.idle === 0) return undefined;
    return new Promise<Finished>((resolve) => {
      const run: Run = {
        job,
        events,
        finish: (f) => {
          Object.assign(run, { done: true });
          resolve(f);
        },
      };
      this.runs.push(run);
    });
  }
  abort(taskId: number, reason: string) {
    this.aborted.push(taskId);
    this.runs.find((r) => r.job.taskId === taskId && !('done' in r))?.finish({ outcome: { ok: false, code: 'aborted', message: reason }, cpuTimeMs: 0, elapsedMs: 0 });
  }
  running(taskId: number): Run {
    const r = this.runs.find((x) => x.job.taskId === taskId && !('done' in x));
    if (!r) throw new Error(`task ${taskId} is not running`);
    return r;
  }
}

type Handler = (payload: Record<string, unknown>) => object | Promise<object>;

/** A link whose calls are answered by handlers; every call is recorded. */
class ScriptedLink extends Emitter<LinkEvents> implements EngineLink {
  session: Session | undefined;
  readonly calls: { event: string; payload: Record<string, unknown> }[] = [];
  readonly fired: { event: string; payload: unknown }[] = [];
  readonly handlers: Record<string, Handler> = {
    'tasks.request': () => ({ tasks: [], retryAfterMs: 60_000 }),
    'credit.receipts': () => ({ receipts: [] }),
    'tasks.progress': () => ({}),
    'tasks.giveBack': () => ({}),
    // Every report is protocol 3's: its results under one signature of the host's.
    'results.report': (p) => ({ results: ResultsReportV3Schema.parse(p).results.map((r): ResultAck => ({ taskId: r.taskId, status: 'accepted' })) }),
  };

  async call<T extends object>(event: string, payload: unknown): Promise<T> {
    this.calls.push({ event, payload: payload as Record<string, unknown> });
    const handler = this.handlers[event];
    if (!handler) throw new CallError('unknown', `no handler for ${event}`);
    return (await handler(payload as Record<string, unknown>)) as T;
  }

  fire(event: string, payload: unknown): void {
    this.fired.push({ event, payload });
  }

  connect(maxResultsPerReport = 64, maxOutputBytes?: number): void {
    this.session = {
      hostId: 1,
      userId: 1,
      coordinatorKey: coordinator.publicKey,
      url: 'http://coordinator.test',
      limits: { maxMessageBytes: 1024 * 1024, maxTasksPerRequest: 8, maxResultsPerReport, heartbeatIntervalMs: 30_000, ...(maxOutputBytes === undefined ? {} : { maxOutputBytes }) },
    };
    this.emit('ready', this.session);
  }

  send<K extends keyof LinkEvents>(event: K, value: LinkEvents[K]): void {
    this.emit(event, value);
  }

  made(event: string) {
    return this.calls.filter((c) => c.event === event);
  }

  /** Answers the next ask for work with these tasks and the coordinator's signature of their list (or `taskList`), later ones with none. */
  offer(tasks: unknown[], taskList?: unknown): void {
    let given = false;
    this.handlers['tasks.request'] = () => {
      if (given) return { tasks: [], retryAfterMs: 60_000 };
      given = true;
      return { tasks, taskList: taskList ?? signedList(tasks as UnsignedTask[]) };
    };
  }
}

/** Timers that run only when the test moves time on. */
class ManualClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; run: () => void; every?: number }>();
  now = () => this.t;
  setTimeout = (run: () => void, ms: number) => this.add(run, ms);
  setInterval = (run: () => void, ms: number) => this.add(run, ms, ms);
  clearTimeout = (id: TimerId | undefined) => void this.timers.delete(id as unknown as number);
  clearInterval = (id: TimerId | undefined) => void this.timers.delete(id as unknown as number);
  private add(run: () => void, ms: number, every?: number): TimerId {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, run, ...(every === undefined ? {} : { every }) });
    return id as unknown as TimerId;
  }
  /** Runs every timer due within `ms`, letting the engine's promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      const [id, timer] = due;
      this.t = Math.max(this.t, timer.at);
      if (timer.every === undefined) this.timers.delete(id);
      else timer.at += timer.every;
      timer.run();
    }
    this.t = end;
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

const BUNDLE: AppBundle = { entry: 'main.js', files: new Map([['main.js', new Uint8Array([1])]]) };

function setup(options: { slots?: number; capacity?: number; apps?: Partial<AppSource>; events?: Partial<EngineEvents<CreditStore>>; awaitingVerdict?: () => number[]; random?: () => number } = {}) {
  const journal = new MemoryJournal();
  const runner = new ManualRunner(options.slots ?? 1);
  const link = new ScriptedLink();
  const clock = new ManualClock();
  const apps: AppSource = { bundle: async () => BUNDLE, input: async () => ({}), uploadOutput: async () => undefined, ...options.apps };
  const credit: CreditStore = { lastEntryId: 0, add: () => ({ added: 0, rejected: 0 }) };
  const engine = new TaskEngine({
    host,
    crypto,
    journal,
    runner,
    openApps: () => apps,
    openCredit: () => credit,
    capacity: () => options.capacity ?? 2,
    clock,
    retryMs: RETRY_MS,
    ...(options.events ? { events: options.events } : {}),
    ...(options.awaitingVerdict ? { awaitingVerdict: options.awaitingVerdict } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  engine.attach(link);
  return { engine, journal, runner, link, clock };
}

const success = (value: unknown): Finished => ({ outcome: { ok: true, outputJson: JSON.stringify(value) }, cpuTimeMs: 10, elapsedMs: 12 });
const reported = (link: ScriptedLink) => link.made('results.report').flatMap((c) => c.payload.results as UnsignedResult[]);

describe('the volunteer task engine', () => {
  it('refuses a task whose list’s signature does not verify: a client error result, nothing run', async () => {
    const { link, runner, clock, journal } = setup();
    const forged = aTask(1);
    link.offer([forged], signedList([forged], keyPair().seed));
    link.connect();
    await clock.advance(100);
    expect(runner.runs).toHaveLength(0);
    const [result] = reported(link);
    expect(result).toMatchObject({ taskId: 1, outcome: 'error', error: { code: 'bad_signature' } });
    expect(journal.taskMap.size + journal.resultMap.size).toBe(0); // acknowledged: forgotten
  });

  it('refuses a task issued to another host, and a malformed one that still names a task', async () => {
    const { link, runner, clock } = setup();
    const other = keyPair();
    link.offer([aTask(1, { hostKey: other.publicKey }), { taskId: 2, workunitId: 1002, nonsense: true }]);
    link.connect();
    await clock.advance(100);
    expect(runner.runs).toHaveLength(0);
    const codes = Object.fromEntries(reported(link).map((r) => [r.taskId, r.error?.code]));
    expect(codes).toEqual({ 1: 'bad_signature', 2: 'bad_signature' });
  });

  it('reports an app or input that does not verify with its code, without running the task', async () => {
    const { link, runner, clock } = setup({
      apps: {
        bundle: async (hash) => {
          if (hash === 'd'.repeat(64)) throw new VerificationError('bad_app', 'the app version signature does not verify');
          return BUNDLE;
        },
        input: async () => {
          throw new VerificationError('bad_input', 'the input file does not match inputHash');
        },
      },
    });
    const badApp = aTask(1);
    const appBody = { ...badApp, appVersionHash: 'd'.repeat(64) };
    const withBadApp = appBody;
    const { input: _input, ...withBadInput } = aTask(2); // input by hash: fetched, and it does not match
    link.offer([withBadApp, withBadInput]);
    link.connect();
    await clock.advance(100);
    expect(runner.runs).toHaveLength(0);
    const codes = Object.fromEntries(reported(link).map((r) => [r.taskId, r.error?.code]));
    expect(codes).toEqual({ 1: 'bad_app', 2: 'bad_input' });
  });

  it('gives up on a task whose app cannot be fetched after five tries: download_failed', async () => {
    let tries = 0;
    const { link, runner, clock } = setup({
      apps: {
        bundle: async () => {
          tries++;
          throw new Error('GET /app-versions failed: HTTP 503');
        },
      },
    });
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(RETRY_MS * 10);
    expect(tries).toBe(5);
    expect(runner.runs).toHaveLength(0);
    expect(reported(link)).toMatchObject([{ taskId: 1, error: { code: 'download_failed' } }]);
  });

  it('journals a task before it runs and its signed result before it reports it', async () => {
    const { link, runner, clock, journal } = setup();
    let journalledAtReport: UnsignedResult | undefined;
    const accept = link.handlers['results.report']!;
    link.handlers['results.report'] = (p) => {
      journalledAtReport = journal.resultMap.get(1);
      return accept(p);
    };
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(100);
    expect(journal.taskMap.has(1)).toBe(true);
    const run = runner.running(1);
    expect(run.job).toMatchObject({ taskId: 1, entry: 'main.js', input: { n: 1 } });

    await run.events.checkpoint('{"step":3}');
    expect(journal.checkpoints.get(1)).toBe('{"step":3}');
    run.finish(success({ primes: 4 }));
    await settle();
    expect(journal.resultMap.get(1)).toMatchObject({ taskId: 1, outcome: 'success', outputHash: jsonHash({ primes: 4 }), cpuTimeMs: 10 });
    expect(link.made('results.report')).toHaveLength(0); // not yet: reports are batched

    await clock.advance(100);
    expect(journalledAtReport).toMatchObject({ taskId: 1, outcome: 'success' });
    expect(reported(link)).toHaveLength(1);
    expect(journal.taskMap.size + journal.checkpoints.size + journal.resultMap.size).toBe(0);
  });

  it('reports what the app logged in its run with the result, signed, without the machine’s paths', async () => {
    const { link, runner, clock } = setup();
    link.offer([aTask(1), aTask(2)]);
    link.connect();
    await clock.advance(100);
    const one = runner.running(1);
    one.events.log('info', 'starting at 7');
    one.events.log('warn', 'odd input in /home/ada/volunteer/data/x.json');
    one.finish({ outcome: { ok: false, code: 'app_exception', message: 'Error: boom' }, cpuTimeMs: 5, elapsedMs: 6 });
    await clock.advance(100);
    runner.running(2).finish(success(2)); // logged nothing: no log field at all
    await clock.advance(100);
    const [failed, quiet] = reported(link);
    expect(failed).toMatchObject({
      taskId: 1,
      outcome: 'error',
      log: [
        { level: 'info', text: 'starting at 7' },
        { level: 'warn', text: expect.not.stringContaining('/home/ada') },
      ],
    });
    expect(failed!.logOmitted).toBeUndefined();
    // Signed with the report: its list covers the log, so a log changed on the way is refused.
    const { results, resultList } = ResultsReportV3Schema.parse(link.made('results.report')[0]!.payload);
    expect(results[0]).toEqual(failed);
    const verified = verifyBody(ed, host.publicKey, 'resultList', { hostKey: resultList.hostKey, resultHashes: resultList.resultHashes }, resultList.signature);
    expect(resultListVerdicts(verified, resultList, results)).toEqual(results.map(() => true));
    expect(resultListVerdicts(verified, resultList, [{ ...results[0]!, log: [] }, ...results.slice(1)])[0]).toBe(false);
    expect(quiet).not.toHaveProperty('log');
  });

  it('keeps the last lines of a long log within the protocol’s bounds, and says how many came before', async () => {
    const { link, runner, clock } = setup();
    link.offer([aTask(1), aTask(2)]);
    link.connect();
    await clock.advance(100);
    const many = runner.running(1);
    for (let i = 1; i <= 150; i++) many.events.log('info', `line ${i}`);
    many.finish(success(1));
    await clock.advance(100);
    const long = runner.running(2);
    for (let i = 1; i <= 40; i++) long.events.log('debug', `${i} `.padEnd(1500, '.'));
    long.finish(success(2));
    await clock.advance(100);
    const [first, second] = reported(link);
    expect(first!.log).toHaveLength(MAX_RESULT_LOG_LINES);
    expect(first!.log![0]!.text).toBe('line 51');
    expect(first!.log!.at(-1)!.text).toBe('line 150');
    expect(first!.logOmitted).toBe(50);
    const chars = second!.log!.reduce((n, l) => n + l.text.length, 0);
    expect(chars).toBeLessThanOrEqual(MAX_RESULT_LOG_CHARS);
    expect(second!.log!.at(-1)!.text.startsWith('40 ')).toBe(true);
    expect(second!.logOmitted! + second!.log!.length).toBe(40);
    for (const r of [first, second]) expect(UnsignedResultSchema.safeParse(r).success).toBe(true);
  });

  it('reports large inline outputs over several messages, each within the coordinator’s message size', async () => {
    const { link, runner, clock } = setup({ slots: 8, capacity: 8 });
    link.offer(Array.from({ length: 8 }, (_, i) => aTask(i + 1)));
    link.connect();
    await clock.advance(100);
    // Just under the inline bound each: eight of them are about 2 MB, one message is 1 MiB.
    for (let i = 1; i <= 8; i++) runner.running(i).finish(success({ text: String(i).repeat(250_000) }));
    await clock.advance(100);
    const reports = link.made('results.report');
    expect(reports.length).toBeGreaterThan(1);
    for (const r of reports) expect(Buffer.byteLength(JSON.stringify(r.payload))).toBeLessThan(1024 * 1024);
    expect(reported(link).map((r) => r.taskId).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('uploads a large output as the output of its task before reporting it without the output', async () => {
    const uploads: { json: string; taskId: number }[] = [];
    const { link, runner, clock } = setup({ apps: { uploadOutput: async (json, taskId) => void uploads.push({ json, taskId }) } });
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(100);
    const big = { text: 'x'.repeat(300_000) };
    runner.running(1).finish(success(big));
    await clock.advance(100);
    expect(uploads).toEqual([{ json: canonicalJson(big), taskId: 1 }]);
    const [result] = reported(link);
    expect(result).toMatchObject({ taskId: 1, outcome: 'success', outputHash: jsonHash(big) });
    expect(result!.output).toBeUndefined();
  });

  it('reports an output over the coordinator’s limit as an error, uploading nothing: the task goes to another host', async () => {
    let uploaded = 0;
    const { link, runner, clock, journal } = setup({ apps: { uploadOutput: async () => void uploaded++ } });
    link.offer([aTask(1)]);
    link.connect(64, 400_000);
    await clock.advance(100);
    runner.running(1).finish(success({ text: 'x'.repeat(500_000) }));
    await clock.advance(100);
    expect(uploaded).toBe(0);
    expect(reported(link)).toMatchObject([{ taskId: 1, outcome: 'error', error: { code: 'output_too_large', message: expect.stringMatching(/over the coordinator's limit of 400000/) }, cpuTimeMs: 10 }]);
    expect(journal.resultMap.size).toBe(0); // acknowledged
  });

  it('reports an upload the coordinator refuses for good as an error, instead of retrying it forever', async () => {
    const { link, runner, clock } = setup({
      apps: {
        uploadOutput: async () => {
          throw new UploadRefused('HTTP 403 {"error":{"code":"forbidden","message":"task 1 takes no result any more"}}');
        },
      },
    });
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(100);
    runner.running(1).finish(success({ text: 'x'.repeat(300_000) }));
    await clock.advance(100);
    expect(reported(link)).toMatchObject([{ taskId: 1, outcome: 'error', error: { code: 'upload_refused', message: expect.stringMatching(/takes no result any more/) } }]);
  });

  it('keeps a result whose upload failed for now (a 503), and uploads it again with the next report', async () => {
    let attempts = 0;
    const { link, runner, clock, journal } = setup({
      apps: {
        uploadOutput: async () => {
          if (++attempts === 1) throw new Error('uploading failed: HTTP 503');
        },
      },
    });
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(100);
    runner.running(1).finish(success({ text: 'x'.repeat(300_000) }));
    await clock.advance(100);
    expect(reported(link)).toHaveLength(0);
    expect(journal.resultMap.get(1)).toMatchObject({ outcome: 'success' });
    await clock.advance(RETRY_MS + 100);
    expect(attempts).toBe(2);
    expect(reported(link)).toMatchObject([{ taskId: 1, outcome: 'success' }]);
  });

  // Regression: between a task's end and its result in the journal, the task was in neither
  // list an ask for work names in `holding`; with fast tasks an ask went out then (a report's
  // answer makes room), the coordinator sent the task again as lost, and it ran twice.
  it('names a task whose result is being journalled as held, so it is not sent again and run twice', async () => {
    const { engine, link, runner, clock, journal } = setup();
    let release!: () => void;
    const save = journal.saveResult.bind(journal);
    journal.saveResult = async (r) => {
      await new Promise<void>((resolve) => (release = resolve));
      await save(r);
    };
    const task = aTask(1);
    link.offer([task]);
    link.connect();
    await clock.advance(100);
    runner.running(1).finish(success(1));
    await settle(); // signed; the journal write waits
    // The coordinator sends a task again to a host that does not name it ("resend lost results").
    link.handlers['tasks.request'] = (p) => ({ tasks: (p.holding as number[]).includes(1) ? [] : [task], retryAfterMs: 60_000 });
    const asked = link.made('tasks.request').length;
    engine.fill();
    await settle();
    expect(link.made('tasks.request').slice(asked).map((c) => c.payload.holding)).toEqual([[1]]);
    release();
    await clock.advance(100);
    expect(runner.runs).toHaveLength(1);
    expect(reported(link).map((r) => r.taskId)).toEqual([1]);
  });

  it('keeps the quota a reply says limited it (one event per kind), and reads one it cannot parse as none', async () => {
    const limits: unknown[] = [];
    const { engine, link, clock } = setup({ events: { limited: (l) => limits.push(l) } });
    const inFlight = { by: 'in_flight', held: 2, allowed: 2 };
    link.handlers['tasks.request'] = () => ({ tasks: [], retryAfterMs: 60_000, limited: inFlight });
    link.connect();
    await clock.advance(100);
    expect(engine.limited).toEqual(inFlight);
    engine.fill();
    await settle();
    expect(limits).toEqual([inFlight]); // said once, not at every ask
    link.handlers['tasks.request'] = () => ({ tasks: [], retryAfterMs: 60_000, limited: { by: 'weekly', left: 0 } });
    engine.fill();
    await settle();
    expect(engine.limited).toBeUndefined();
    link.handlers['tasks.request'] = () => ({ tasks: [], retryAfterMs: 60_000 });
    engine.fill();
    await settle();
    expect([engine.limited, engine.waitingForWork]).toEqual([undefined, true]);
  });

  it('starts each task once when starting one calls dispatch again (a sandbox pool reporting a free slot)', async () => {
    const { engine, link, runner, clock } = setup({ slots: 3, capacity: 3 });
    const run = runner.run.bind(runner);
    runner.run = (job, events) => {
      engine.dispatch(); // the pool's onIdle fires while the task is being started
      return run(job, events);
    };
    link.offer([aTask(1), aTask(2), aTask(3)]);
    link.connect();
    await clock.advance(100);
    expect(runner.runs.map((r) => r.job.taskId).sort()).toEqual([1, 2, 3]);
  });

  it('reports in batches of maxResultsPerReport and sends them all again after a failed call', async () => {
    const { engine, link, clock, journal } = setup();
    for (let id = 1; id <= 5; id++) await journal.saveResult({ ...(await resultFor(id)) });
    await engine.restore();
    let failures = 1;
    const accept = link.handlers['results.report']!;
    link.handlers['results.report'] = (p) => {
      if (failures-- > 0) throw new CallError('internal', 'the coordinator had a bad moment');
      return accept(p);
    };
    link.connect(2);
    await clock.advance(100);
    expect(link.made('results.report')).toHaveLength(1); // failed
    expect(journal.resultMap.size).toBe(5); // kept
    expect(engine.unreportedCount).toBe(5);

    await clock.advance(RETRY_MS + 100);
    const sizes = link.made('results.report').map((c) => (c.payload.results as UnsignedResult[]).length);
    expect(sizes).toEqual([2, 2, 2, 1]);
    expect(new Set(reported(link).slice(2).map((r) => r.taskId))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(engine.unreportedCount).toBe(0);
    expect(journal.resultMap.size).toBe(0);
  });

  it('keeps results through a timed-out report and sends them with the next one', async () => {
    const { engine, link, clock, journal } = setup();
    await journal.saveResult(await resultFor(1));
    await engine.restore();
    let timeouts = 1;
    const accept = link.handlers['results.report']!;
    link.handlers['results.report'] = (p) => {
      if (timeouts-- > 0) throw new CallError('timeout', 'no answer');
      return accept(p);
    };
    link.connect();
    await clock.advance(100);
    expect(engine.unreportedCount).toBe(1);
    await engine.report();
    expect(engine.unreportedCount).toBe(0);
    expect(journal.resultMap.size).toBe(0);
  });

  it('a call cut by the lost connection is told as the loss alone, and picked up again once connected', async () => {
    const said: string[] = [];
    const { engine, link, clock, journal } = setup({
      events: {
        lost: (reason) => said.push(`lost: ${reason}`),
        fetchFailed: (e) => said.push(`fetch failed: ${e.message}`),
        reportFailed: (e) => said.push(`report failed: ${e.message}`),
      },
    });
    await journal.saveResult(await resultFor(1));
    await engine.restore();
    // As the link does it: 'lost' first, then every call still waiting fails as disconnected.
    const cut = (event: string, handler: Handler): Handler => {
      let once = true;
      return (p) => {
        if (!once) return handler(p);
        once = false;
        link.session = undefined;
        link.send('lost', 'the connection closed');
        throw new CallError('disconnected', `lost the connection to the coordinator before it answered ${event}`);
      };
    };
    link.handlers['tasks.request'] = cut('tasks.request', link.handlers['tasks.request']!);
    link.handlers['results.report'] = cut('results.report', link.handlers['results.report']!);

    link.connect(); // asks for work: cut
    await clock.advance(100);
    expect(link.made('tasks.request')).toHaveLength(1);
    link.connect(); // asks for work again, then reports: cut
    await clock.advance(100);
    expect(link.made('tasks.request')).toHaveLength(2);
    expect(link.made('results.report')).toHaveLength(1);
    expect(engine.unreportedCount).toBe(1);
    link.connect(); // reports again
    await clock.advance(100);
    expect(link.made('results.report')).toHaveLength(2);
    expect(engine.unreportedCount).toBe(0);
    expect(said).toEqual(['lost: the connection closed', 'lost: the connection closed']);
  });

  it('stops a running task the coordinator aborts, forgets it, and reports nothing for it', async () => {
    const { engine, link, runner, clock, journal } = setup({ capacity: 1 });
    link.offer([aTask(1)]);
    link.connect();
    await clock.advance(100);
    runner.running(1);
    link.send('abort', { taskIds: [1], reason: 'the work unit is complete' });
    await settle();
    expect(runner.aborted).toEqual([1]);
    expect(engine.heldTasks()).toEqual([]);
    expect(journal.taskMap.size).toBe(0);
    await clock.advance(RETRY_MS);
    expect(link.made('results.report')).toHaveLength(0);
    await expect(runner.runs[0]!.events.checkpoint('{}')).rejects.toThrow(/stopped/);
    expect(journal.checkpoints.size).toBe(0);
  });

  it('gives tasks back: running ones are stopped, all are forgotten; without a connection they stay', async () => {
    const { engine, link, runner, clock, journal } = setup({ slots: 1, capacity: 3 });
    link.offer([aTask(1), aTask(2), aTask(3)]);
    link.connect();
    await clock.advance(100);
    expect(engine.heldTasks().map((h) => [h.task.taskId, h.state])).toEqual([
      [1, 'running'],
      [2, 'queued'],
      [3, 'queued'],
    ]);

    link.session = undefined;
    link.send('lost', 'transport close');
    await engine.giveBack([2], 'the volunteer is stopping');
    expect(link.made('tasks.giveBack')).toHaveLength(0);
    expect(journal.taskMap.has(2)).toBe(true);

    link.connect();
    await settle();
    engine.stopTaking();
    await engine.giveBack([1, 2, 3], 'the volunteer is stopping');
    expect(link.made('tasks.giveBack').map((c) => c.payload)).toEqual([{ taskIds: [1, 2, 3], reason: 'the volunteer is stopping' }]);
    expect(runner.aborted).toContain(1);
    expect(engine.heldTasks()).toEqual([]);
    expect(journal.taskMap.size).toBe(0);
    await clock.advance(RETRY_MS);
    expect(link.made('results.report')).toHaveLength(0); // an aborted run is not a result
  });

  it('hands tasks back without waiting (a page going away) and forgets them', async () => {
    const { engine, link, clock, journal } = setup({ slots: 0, capacity: 2 });
    link.offer([aTask(1), aTask(2)]);
    link.connect();
    await clock.advance(100);
    engine.handBack([1, 2], 'the browser tab closed');
    await settle();
    expect(link.fired).toEqual([{ event: 'tasks.giveBack', payload: { taskIds: [1, 2], reason: 'the browser tab closed' } }]);
    expect(engine.heldTasks()).toEqual([]);
    expect(journal.taskMap.size).toBe(0);
  });

  it("strips the volunteer's file paths from every error it reports, keeping the app's module names", async () => {
    const { link, runner, clock } = setup({
      slots: 2,
      capacity: 3,
      apps: {
        bundle: async (hash) => {
          if (hash === 'd'.repeat(64)) throw new Error("EACCES: permission denied, open '/home/alice smith/volunteer-data/files/x'");
          return BUNDLE;
        },
      },
    });
    const appBody = { ...aTask(3), appVersionHash: 'd'.repeat(64) };
    link.offer([aTask(1), aTask(2), appBody]);
    link.connect();
    await clock.advance(100);
    const failed = (message: string): Finished => ({ outcome: { ok: false, code: 'app_exception', message }, cpuTimeMs: 1, elapsedMs: 1 });
    runner.running(1).finish(failed("TypeError: x is null (at f (app:util.js:2:8)) at runIn (file:///home/alice/volunteer-grid/app-runtime/run-app.ts:1:1132)"));
    runner.running(2).finish({ outcome: { ok: false, code: 'worker_crashed', message: 'the sandbox worker failed: Cannot find module /home/alice/volunteer-grid/volunteer-node/sandbox/worker-main.js' }, cpuTimeMs: 1, elapsedMs: 1 });
    await clock.advance(RETRY_MS * 6);
    const messages = Object.fromEntries(reported(link).map((r) => [r.taskId, r.error?.message]));
    expect(messages).toEqual({
      1: 'TypeError: x is null (at f (app:util.js:2:8)) at runIn (<path>)',
      2: 'the sandbox worker failed: Cannot find module <path>',
      3: "EACCES: permission denied, open '<path>'",
    });
  });

  it('resumes a restored task from its journalled checkpoint, and requeues a suspended one', async () => {
    const { engine, link, runner, clock, journal } = setup({ capacity: 1 });
    await journal.saveTask(aTask(7));
    await journal.saveCheckpoint(7, '{"step":5}');
    await engine.restore();
    link.connect();
    await clock.advance(100);
    expect(runner.running(7).job.resume).toBe('{"step":5}');
    expect(engine.heldTasks()[0]).toMatchObject({ state: 'running', resumed: true, checkpointed: true });
    expect(link.made('tasks.request')).toHaveLength(0); // full: one task held

    runner.running(7).finish({ outcome: { ok: false, code: 'suspended', message: 'paused' }, cpuTimeMs: 1, elapsedMs: 1 });
    await settle();
    expect(runner.running(7).job.resume).toBe('{"step":5}');
    runner.running(7).finish(success(42));
    await clock.advance(100);
    expect(reported(link)).toMatchObject([{ taskId: 7, outcome: 'success' }]);
  });
});

describe('verdicts', () => {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const asked = (link: ScriptedLink) => link.made('results.verdicts').map((c) => c.payload.taskIds as number[]);

  it('asks what came of results waiting for their verdict: after the receipts on connecting, then about every minute, 64 at a time, those asked longest ago first', async () => {
    let awaiting = range(1, 100);
    const told: TaskVerdict[][] = [];
    // The waits are 30 to 90 s at random: the shortest, then the longest, so that the second ask
    // comes at the window's start and no third one inside it.
    const draws = [0, 0.999];
    const { link, clock } = setup({ awaitingVerdict: () => awaiting, events: { judged: (v) => told.push(v) }, random: () => draws.shift() ?? 0.5 });
    link.handlers['results.verdicts'] = (p) => ({
      // One verdict the engine cannot read (a later coordinator's word) and one for a task it did not ask about: left out.
      verdicts: [...(p.taskIds as number[]).map((taskId) => ({ taskId, verdict: taskId === 5 ? 'invalid' : 'pending' })), { taskId: 6, verdict: 'overturned' }, { taskId: 999, verdict: 'valid' }],
    });
    link.connect();
    await clock.advance(100);
    expect(link.calls.map((c) => c.event).filter((e) => e === 'credit.receipts' || e === 'results.verdicts')).toEqual(['credit.receipts', 'results.verdicts']);
    expect(asked(link)).toEqual([range(1, 64)]);
    expect(told).toHaveLength(1);
    expect(told[0]!.find((v) => v.taskId === 5)).toEqual({ taskId: 5, verdict: 'invalid' });
    expect(told[0]!.map((v) => v.taskId)).toEqual(range(1, 64));

    // Within 30 to 90 s: the 36 never asked first, then the longest asked.
    await clock.advance(29_000);
    expect(asked(link)).toHaveLength(1);
    await clock.advance(1_100);
    expect(asked(link)).toHaveLength(2);
    await clock.advance(59_900);
    expect(asked(link)).toHaveLength(2);
    expect(asked(link)[1]).toEqual([...range(65, 100), ...range(1, 28)]);

    // Nothing waits: nothing is sent.
    awaiting = [];
    await clock.advance(180_000);
    expect(asked(link)).toHaveLength(2);
  });

  it('hands on a pushed verdict at once; stops asking while disconnected, and asks again once connected', async () => {
    const told: TaskVerdict[][] = [];
    const { link, clock } = setup({ awaitingVerdict: () => [7], events: { judged: (v) => told.push(v) } });
    link.handlers['results.verdicts'] = () => ({ verdicts: [{ taskId: 7, verdict: 'pending' }] });
    link.connect();
    await clock.advance(100);
    link.send('judged', [{ taskId: 7, verdict: 'invalid' }]);
    expect(told.at(-1)).toEqual([{ taskId: 7, verdict: 'invalid' }]);

    link.send('lost', 'the network went away');
    link.session = undefined;
    await clock.advance(600_000);
    expect(asked(link)).toHaveLength(1);
    link.connect();
    await clock.advance(100);
    expect(asked(link)).toHaveLength(2);
  });

  it('a coordinator from before results.verdicts (bad_request): not asked again until the next connect, and nothing else changes', async () => {
    const { link, clock } = setup({ awaitingVerdict: () => [7] });
    link.handlers['results.verdicts'] = () => {
      throw new CallError('bad_request', 'unknown event "results.verdicts"; docs/protocol.md lists the messages');
    };
    link.connect();
    await clock.advance(300_000);
    expect(asked(link)).toEqual([[7]]);
    expect(link.made('tasks.request').length).toBeGreaterThan(0);
    link.connect();
    await clock.advance(100);
    expect(asked(link)).toEqual([[7], [7]]);
  });
});

async function resultFor(taskId: number): Promise<UnsignedResult> {
  const { buildUnsignedResult } = await import('../../protocol/results.js');
  return buildUnsignedResult(aTask(taskId), { output: taskId }, { cpuTimeMs: 1, elapsedMs: 1 });
}
