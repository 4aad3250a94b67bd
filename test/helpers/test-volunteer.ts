// A volunteer written in the test against the documented protocol: socket.io-client, its own
// Ed25519 key (tweetnacl), verification of every task and app bundle before running it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { fromHex, toHex, utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { sha256Hex } from '../../protocol/hash.js';
import type {
  AbortNotice,
  Capabilities,
  CreditReceipt,
  Platform,
  Reply,
  Result,
  ResultAck,
  ResultVerdict,
  SignedResultList,
  SignedTaskList,
  Task,
  TaskVerdict,
  UnsignedResult,
  UnsignedTask,
} from '../../protocol/messages.js';
import type { ProtocolVersion } from '../../protocol/limits.js';
import { buildResult, type Outcome } from '../../protocol/results.js';
import { signResultList } from '../../protocol/signed-lists.js';
import { signBody } from '../../protocol/signing.js';
import { appVersionProblem, fileProblem, listedTaskProblems, taskProblem, type SignedAppVersion } from '../../protocol/verify.js';

const ed = tweetnaclEd25519();

export type Behaviour = 'honest' | 'garbage' | 'colluder' | 'failing';
type RunFn = (input: unknown, ctx: unknown) => Promise<unknown>;

export interface VolunteerOptions {
  seed?: string;
  name?: string;
  platform?: Platform;
  capabilities?: Capabilities;
  accountKey?: string;
  behaviour?: Behaviour;
  coordinatorKey?: string;
  /** The protocol it speaks (2 by default: most suites check what every version does the same way). */
  protocol?: ProtocolVersion;
}

/** A protocol-3 result: its own signature dropped, the report's list signs it. */
export function unsigned(r: Result | UnsignedResult): UnsignedResult {
  const { signature: _signature, ...rest } = r as Result;
  return rest;
}

export class TestVolunteer {
  readonly aborts: AbortNotice[] = [];
  readonly receipts: CreditReceipt[] = [];
  /** Verdicts pushed with results.judged, as they came. */
  readonly judged: TaskVerdict[] = [];
  readonly accepted: Result[] = [];
  /** Computed but not yet acknowledged: reported again (idempotently) after a reconnect. */
  pending: Result[] = [];
  hostId = 0;
  userId = 0;
  /** One load per app version, shared by concurrent computes (a second load would rewrite files being imported). */
  private readonly apps = new Map<string, Promise<{ run: RunFn; files: Map<string, Uint8Array> }>>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'vg-volunteer-'));

  private constructor(
    readonly url: string,
    readonly socket: Socket,
    readonly seed: string,
    readonly publicKey: string,
    readonly coordinatorKey: string,
    readonly behaviour: Behaviour,
  ) {
    socket.on('tasks.abort', (n: AbortNotice) => this.aborts.push(n));
    socket.on('credit.granted', (m: { receipts: CreditReceipt[] }) => this.receipts.push(...m.receipts));
    socket.on('results.judged', (m: { verdicts: TaskVerdict[] }) => this.judged.push(...m.verdicts));
  }

  /** Connects, says hello and proves its key. Throws with the coordinator's message on refusal. */
  static async connect(url: string, opts: VolunteerOptions = {}): Promise<TestVolunteer> {
    const seed = opts.seed ?? toHex(ed.randomSeed());
    const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
    const socket = io(`${url}/volunteer`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
      // A coordinator that dies mid-handshake gives neither of the two above.
      socket.once('disconnect', (reason) => reject(new Error(`disconnected while connecting: ${reason}`)));
    });
    let v: TestVolunteer | undefined;
    try {
      const hello = await call<{ challenge: string; coordinatorKey: string }>(socket, 'hello', {
        protocol: opts.protocol ?? 2,
        hostKey: publicKey,
        platform: opts.platform ?? { kind: 'node', engine: 'v8' },
        capabilities: opts.capabilities ?? { wasm: true, cores: 1 },
        name: opts.name,
        accountKey: opts.accountKey,
      });
      if (opts.coordinatorKey && hello.coordinatorKey !== opts.coordinatorKey) throw new Error('coordinator key changed');
      const signature = signBody(ed, seed, 'auth', { nonce: hello.challenge, hostKey: publicKey, coordinatorKey: hello.coordinatorKey });
      v = new TestVolunteer(url, socket, seed, publicKey, hello.coordinatorKey, opts.behaviour ?? 'honest');
      const auth = await call<{ hostId: number; userId: number }>(socket, 'auth', { signature });
      v.hostId = auth.hostId;
      v.userId = auth.userId;
      return v;
    } catch (e) {
      // A refused handshake leaves no connection (nor folder) behind.
      if (v) v.close();
      else socket.disconnect();
      throw e;
    }
  }

  send<T extends object>(event: string, payload: unknown): Promise<Reply<T>> {
    return this.socket.timeout(15_000).emitWithAck(event, payload) as Promise<Reply<T>>;
  }

  /** Requests tasks and checks each: coordinator signature, addressed to us, input hash. */
  async requestTasks(count: number, holding?: number[]): Promise<Task[]> {
    const reply = await this.send<{ tasks: Task[] }>('tasks.request', { count, holding });
    if (!reply.ok) throw new Error(`tasks.request: ${reply.error.message}`);
    for (const t of reply.tasks) {
      const problem = taskProblem(ed, this.coordinatorKey, this.publicKey, t);
      if (problem) throw new Error(`task ${t.taskId}: ${problem}`);
    }
    return reply.tasks;
  }

  /** Protocol 3: requests tasks and checks their list (one signature) and each task; the list as it came. */
  async requestListedTasks(count: number, holding?: number[]): Promise<{ tasks: UnsignedTask[]; taskList?: SignedTaskList }> {
    const reply = await this.send<{ tasks: UnsignedTask[]; taskList?: SignedTaskList }>('tasks.request', { count, holding });
    if (!reply.ok) throw new Error(`tasks.request: ${reply.error.message}`);
    listedTaskProblems(ed, this.coordinatorKey, this.publicKey, reply.tasks, reply.taskList).forEach((problem, i) => {
      if (problem) throw new Error(`task ${reply.tasks[i]!.taskId}: ${problem}`);
    });
    return { tasks: reply.tasks, ...(reply.taskList ? { taskList: reply.taskList } : {}) };
  }

  /** Protocol 3: reports results under one list signature (`resultList` replaces the one this host would sign). */
  async reportListed(results: readonly (Result | UnsignedResult)[], resultList?: SignedResultList): Promise<ResultAck[]> {
    const plain = results.map(unsigned);
    const reply = await this.send<{ results: ResultAck[] }>('results.report', { results: plain, resultList: resultList ?? signResultList(ed, this.seed, this.publicKey, plain) });
    if (!reply.ok) throw new Error(`results.report: ${reply.error.message}`);
    return reply.results;
  }

  async compute(task: UnsignedTask): Promise<Result> {
    // To the fraction of a millisecond: credit follows the time measured, and these tasks are short.
    const started = performance.now();
    let outcome: Outcome;
    if (this.behaviour === 'failing') outcome = { error: { code: 'app_error', message: 'simulated crash' } };
    else if (this.behaviour === 'garbage') outcome = { output: { garbage: Math.random() } };
    else if (this.behaviour === 'colluder') outcome = { output: { count: -1, checksum: 0 } };
    else {
      const { run, files } = await this.app(task.appVersionHash);
      const input = task.input ?? (await this.fetchJson(task.inputHash));
      const file = async (name: string) => files.get(name) ?? Promise.reject(new Error(`no file ${name}`));
      const ctx = { progress: () => {}, checkpoint: async () => {}, resume: undefined, random: () => 0, file };
      outcome = { output: await run(input, ctx) };
    }
    const elapsed = performance.now() - started;
    // An output too large for a message is uploaded first, as the output of this task.
    if (outcome.output !== undefined) {
      const bytes = utf8(canonicalJson(outcome.output));
      if (bytes.length > MAX_INLINE_JSON_BYTES) {
        const put = await this.upload(task.taskId, bytes);
        if (!put.ok) throw new Error(`uploading the output of task ${task.taskId}: HTTP ${put.status} ${await put.text()}`);
        outcome = { output: outcome.output, inline: false };
      }
    }
    return buildResult(ed, this.seed, task, outcome, { cpuTimeMs: elapsed, elapsedMs: elapsed });
  }

  /** A signed result of this task with `output`, whatever the task asked (a wrong answer, on purpose). */
  resultWith(task: UnsignedTask, output: unknown): Result {
    return buildResult(ed, this.seed, task, { output }, { cpuTimeMs: 1, elapsedMs: 1 });
  }

  /** results.verdicts: what came of these tasks, as the coordinator tells this host. */
  async verdicts(taskIds: number[]): Promise<Record<number, ResultVerdict>> {
    const reply = await this.send<{ verdicts: TaskVerdict[] }>('results.verdicts', { taskIds });
    if (!reply.ok) throw new Error(`results.verdicts: ${reply.error.message}`);
    return Object.fromEntries(reply.verdicts.map((v) => [v.taskId, v.verdict]));
  }

  /** PUT /files/{hash}: the output of one of this host's tasks, signed as the protocol asks (docs/protocol.md §5). */
  upload(taskId: number, bytes: Uint8Array, hash = sha256Hex(bytes)): Promise<Response> {
    const signature = signBody(ed, this.seed, 'upload', { hostKey: this.publicKey, sha256: hash, taskId });
    return fetch(`${this.url}/files/${hash}`, {
      method: 'PUT',
      headers: { 'x-vg-host-key': this.publicKey, 'x-vg-task-id': String(taskId), 'x-vg-signature': signature },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
  }

  async report(results: Result[]): Promise<ResultAck[]> {
    const reply = await this.send<{ results: ResultAck[] }>('results.report', { results });
    if (!reply.ok) throw new Error(`results.report: ${reply.error.message}`);
    reply.results.forEach((ack, i) => ack.status !== 'rejected' && this.accepted.push(results[i]!));
    return reply.results;
  }

  /**
   * Requests, computes and reports until `done()` says stop or the connection drops. Results
   * stay in `pending` until acknowledged, so a lost connection loses none of them.
   */
  async work(done: () => boolean | Promise<boolean>, batchSize = 4): Promise<void> {
    try {
      while (!(await done()) && this.socket.connected) {
        if (this.pending.length > 0) {
          await this.report(this.pending);
          this.pending = [];
          continue;
        }
        // Listing what we hold gets back any task whose assignment reply we never received.
        const tasks = await this.requestTasks(batchSize, []);
        if (tasks.length === 0) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        for (const t of tasks) this.pending.push(await this.compute(t));
      }
    } catch (e) {
      if (this.socket.connected) throw e; // a real failure, not the coordinator going away
    }
  }

  /** Downloads an app version, checks the coordinator's signature and every file hash, loads it. */
  private app(bundleHash: string): Promise<{ run: RunFn; files: Map<string, Uint8Array> }> {
    let loading = this.apps.get(bundleHash);
    if (!loading) {
      loading = this.loadApp(bundleHash);
      loading.catch(() => this.apps.delete(bundleHash));
      this.apps.set(bundleHash, loading);
    }
    return loading;
  }

  private async loadApp(bundleHash: string): Promise<{ run: RunFn; files: Map<string, Uint8Array> }> {
    const res = await fetch(`${this.url}/app-versions/${bundleHash}`);
    if (!res.ok) throw new Error(`app version ${bundleHash}: HTTP ${res.status}`);
    const checked = appVersionProblem(ed, this.coordinatorKey, bundleHash, (await res.json()) as SignedAppVersion);
    if ('problem' in checked) throw new Error(checked.problem);
    const doc = { manifest: checked.manifest };
    const files = new Map<string, Uint8Array>();
    for (const f of doc.manifest.files) {
      const bytes = new Uint8Array(await (await fetch(`${this.url}/files/${f.sha256}`)).arrayBuffer());
      const problem = fileProblem(f, bytes);
      if (problem) throw new Error(problem);
      writeFileSync(join(this.dir, `${bundleHash}-${f.name}`), bytes);
      files.set(f.name, bytes);
    }
    const mod = (await import(pathToFileURL(join(this.dir, `${bundleHash}-${doc.manifest.entry}`)).href)) as { default: RunFn };
    return { run: mod.default, files };
  }

  private async fetchJson(hash: string): Promise<unknown> {
    const bytes = new Uint8Array(await (await fetch(`${this.url}/files/${hash}`)).arrayBuffer());
    if (sha256Hex(bytes) !== hash) throw new Error('input file does not match its hash');
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  close(): void {
    this.socket.disconnect();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function call<T extends object>(socket: Socket, event: string, payload: unknown): Promise<T> {
  const reply = (await socket.timeout(15_000).emitWithAck(event, payload)) as Reply<T>;
  if (!reply.ok) throw new Error(`${event}: ${reply.error.code}: ${reply.error.message}`);
  return reply;
}
