// A volunteer host for reliability tests: one identity (Ed25519 key, account) that outlives its
// connections, speaking the documented protocol with Node's built-in Ed25519 (tweetnacl signs at
// ~100/s, too slow for thousands of results). It records every acknowledgement the coordinator
// gives, and keeps what was computed but never acknowledged to report again after a reconnect.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { protocolCall } from '../../common/socket-call.js';
import { fromHex, toHex, utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import type { CreditReceipt, Result, ResultAck, ResultRejection, ResultStatus, Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { resultBody, signBody } from '../../protocol/signing.js';
import { appVersionProblem, fileProblem, taskProblem, type SignedAppVersion } from '../../protocol/verify.js';

const ed = nodeEd25519();
const REPLY_TIMEOUT_MS = 15_000;
type RunFn = (input: unknown, ctx: unknown) => Promise<unknown>;

/** One acknowledgement of one result, as the coordinator gave it. */
export interface ResultAckRecord {
  taskId: number;
  workunitId: number;
  hostId: number;
  status: ResultStatus;
  code?: ResultRejection;
  /** The hash the coordinator stores for this result (of its signed body). */
  resultHash: string;
  /** When the report left and when its reply came back (the coordinator decided in between). */
  sentAt: number;
  ackedAt: number;
}

export interface GiveBackRecord {
  taskId: number;
  status: 'given_back' | 'not_in_progress';
}

export interface HostOptions {
  name: string;
  /** Where app bundles are written to be imported (a temp dir the test removes). */
  appDir: string;
  seed?: string;
  accountKey?: string;
  /** A cheating host: what it reports instead of the output it computed. */
  tamper?: (output: unknown, task: Task) => unknown;
}

export interface WorkOptions {
  stop: () => boolean;
  /** Tasks asked for at a time. */
  batch?: number;
  random?: () => number;
  /** Share of received batches from which one task is handed back instead of computed. */
  giveBackRate?: number;
  /** Pause per computed task, to pace a host. */
  computeDelayMs?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HostClient {
  readonly seed: string;
  readonly publicKey: string;
  hostId = 0;
  userId = 0;
  /** Pinned at the first connection: a restarted coordinator must keep its key. */
  coordinatorKey: string | undefined;
  /** Received and not yet computed. */
  held: Task[] = [];
  /** Computed but not acknowledged: reported again (idempotently) after a reconnect. */
  pending: Result[] = [];
  readonly acks: ResultAckRecord[] = [];
  readonly givenBack: GiveBackRecord[] = [];
  readonly receipts: CreditReceipt[] = [];
  /** Every tasks.abort pushed to it. */
  readonly aborts: { taskIds: number[]; reason: string }[] = [];
  readonly tasksSeen = new Map<number, Task>();
  connections = 0;
  private socket: Socket | undefined;
  private url = '';
  private readonly apps = new Map<string, RunFn>();

  constructor(readonly opts: HostOptions) {
    this.seed = opts.seed ?? toHex(ed.randomSeed());
    this.publicKey = toHex(ed.publicKeyFromSeed(fromHex(this.seed)));
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** Connects, says hello and proves its key. Throws when the coordinator is unreachable or refuses. */
  async connect(url: string): Promise<void> {
    this.disconnect();
    this.url = url;
    const socket = io(`${url}/volunteer`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 5000 });
    this.socket = socket;
    socket.on('credit.granted', (m: { receipts: CreditReceipt[] }) => this.receipts.push(...m.receipts));
    socket.on('tasks.abort', (m: { taskIds: number[]; reason: string }) => this.aborts.push(m));
    try {
      // A coordinator that dies between the WebSocket handshake and the namespace's answer
      // yields neither "connect" nor "connect_error", only "disconnect".
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('connect: no answer')), 5000);
        const settle = (e?: Error) => {
          clearTimeout(timer);
          socket.off('connect').off('connect_error').off('disconnect');
          if (e) reject(e);
          else resolve();
        };
        socket.once('connect', () => settle());
        socket.once('connect_error', (e) => settle(e));
        socket.once('disconnect', (reason) => settle(new Error(`connect: ${reason}`)));
      });
      const hello = await this.call<{ challenge: string; coordinatorKey: string }>('hello', {
        protocol: 2,
        hostKey: this.publicKey,
        platform: { kind: 'node', engine: 'v8' },
        capabilities: { wasm: true, cores: 1 },
        name: this.opts.name,
        accountKey: this.opts.accountKey,
      });
      if (this.coordinatorKey && hello.coordinatorKey !== this.coordinatorKey) throw new Error('the coordinator key changed');
      this.coordinatorKey = hello.coordinatorKey;
      const signature = signBody(ed, this.seed, 'auth', { nonce: hello.challenge, hostKey: this.publicKey, coordinatorKey: hello.coordinatorKey });
      const auth = await this.call<{ hostId: number; userId: number }>('auth', { signature });
      if (this.hostId !== 0 && auth.hostId !== this.hostId) throw new Error(`host id changed from ${this.hostId} to ${auth.hostId}`);
      this.hostId = auth.hostId;
      this.userId = auth.userId;
      this.connections++;
    } catch (e) {
      this.disconnect();
      throw e;
    }
  }

  disconnect(): void {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
  }

  /** Requests tasks and checks each: coordinator signature, addressed to us, inline input. */
  async requestTasks(count: number): Promise<Task[]> {
    // `holding` lists what we have, so tasks whose assignment reply was lost come back first.
    const holding = [...this.held.map((t) => t.taskId), ...this.pending.map((r) => r.taskId)];
    const reply = await this.call<{ tasks: Task[] }>('tasks.request', { count, holding });
    for (const t of reply.tasks) {
      const problem = taskProblem(ed, this.coordinatorKey!, this.publicKey, t);
      if (problem) throw new Error(`task ${t.taskId}: ${problem}`);
      this.tasksSeen.set(t.taskId, t);
    }
    return reply.tasks;
  }

  async compute(task: Task): Promise<Result> {
    const run = await this.app(task.appVersionHash);
    if (task.input === undefined) throw new Error(`task ${task.taskId} has no inline input`);
    const computed = await run(task.input, { progress: () => {}, checkpoint: async () => {}, random: () => 0 });
    const output = this.opts.tamper ? this.opts.tamper(computed, task) : computed;
    // An output too large for a message goes up first, as the output of this task (docs/protocol.md §5).
    const bytes = utf8(canonicalJson(output));
    if (bytes.length <= MAX_INLINE_JSON_BYTES) return buildResult(ed, this.seed, task, { output }, { cpuTimeMs: 1, elapsedMs: 1 });
    const sha256 = sha256Hex(bytes);
    const signature = signBody(ed, this.seed, 'upload', { hostKey: this.publicKey, sha256, taskId: task.taskId });
    const put = await fetch(`${this.url}/files/${sha256}`, {
      method: 'PUT',
      headers: { 'x-vg-host-key': this.publicKey, 'x-vg-task-id': String(task.taskId), 'x-vg-signature': signature },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    if (!put.ok) throw new Error(`uploading the output of task ${task.taskId}: HTTP ${put.status} ${await put.text()}`);
    return buildResult(ed, this.seed, task, { output, inline: false }, { cpuTimeMs: 1, elapsedMs: 1 });
  }

  /** Reports and records each acknowledgement; acknowledged results leave `pending`. */
  async report(results: Result[]): Promise<ResultAck[]> {
    const sentAt = Date.now();
    const reply = await this.call<{ results: ResultAck[] }>('results.report', { results });
    const ackedAt = Date.now();
    reply.results.forEach((ack, i) => {
      const r = results[i]!;
      if (ack.taskId !== r.taskId) throw new Error(`ack ${i} names task ${ack.taskId}, not ${r.taskId}`);
      this.acks.push({
        taskId: r.taskId,
        workunitId: r.workunitId,
        hostId: this.hostId,
        status: ack.status,
        ...(ack.error ? { code: ack.error.code } : {}),
        resultHash: jsonHash(resultBody(r)),
        sentAt,
        ackedAt,
      });
    });
    const done = new Set(results.map((r) => r.taskId));
    this.pending = this.pending.filter((r) => !done.has(r.taskId));
    return reply.results;
  }

  async giveBack(taskIds: number[]): Promise<GiveBackRecord[]> {
    const reply = await this.call<{ tasks: GiveBackRecord[] }>('tasks.giveBack', { taskIds, reason: 'test: handing back' });
    this.givenBack.push(...reply.tasks);
    return reply.tasks;
  }

  /** Computes everything held into `pending` (without reporting). */
  async computeHeld(): Promise<void> {
    while (this.held.length > 0) {
      const t = this.held[0]!;
      this.pending.push(await this.compute(t));
      this.held.shift();
    }
  }

  /**
   * Reports what is pending, then requests, computes and reports, until `stop()` or the
   * connection drops. A dropped connection ends it quietly: nothing is lost, held tasks and
   * pending results stay for the next connection. Any other failure throws.
   */
  async work(o: WorkOptions): Promise<void> {
    const random = o.random ?? Math.random;
    try {
      while (!o.stop() && this.connected) {
        if (this.pending.length > 0) {
          await this.report(this.pending.slice(0, 64));
          continue;
        }
        if (this.held.length === 0) {
          const tasks = await this.requestTasks(o.batch ?? 4);
          if (tasks.length === 0) {
            await sleep(50);
            continue;
          }
          this.held.push(...tasks);
          if (o.giveBackRate && tasks.length > 1 && random() < o.giveBackRate) {
            const back = this.held.pop()!;
            // Whatever the answer (or none, if the coordinator dies), the task is not ours to
            // compute any more; if the hand-back never committed, "holding" gets it resent.
            await this.giveBack([back.taskId]);
          }
        }
        while (this.held.length > 0 && !o.stop()) {
          const t = this.held[0]!;
          const delay = o.computeDelayMs?.() ?? 0;
          if (delay > 0) await sleep(delay);
          this.pending.push(await this.compute(t));
          this.held.shift();
        }
      }
    } catch (e) {
      // A fetch can fail a moment before the socket notices that the coordinator died.
      if (this.connected) await sleep(300);
      if (this.connected) throw e;
    }
  }

  private call<T extends object>(event: string, payload: unknown): Promise<T> {
    return protocolCall<T>(this.socket, event, payload, REPLY_TIMEOUT_MS);
  }

  /** Downloads an app version, checks the coordinator's signature and every file hash, loads it. */
  private async app(bundleHash: string): Promise<RunFn> {
    const cached = this.apps.get(bundleHash);
    if (cached) return cached;
    const base = this.url;
    const res = await fetch(`${base}/app-versions/${bundleHash}`);
    if (!res.ok) throw new Error(`app version ${bundleHash}: HTTP ${res.status}`);
    const checked = appVersionProblem(ed, this.coordinatorKey!, bundleHash, (await res.json()) as SignedAppVersion);
    if ('problem' in checked) throw new Error(checked.problem);
    const prefix = `${this.publicKey.slice(0, 16)}-${bundleHash.slice(0, 16)}`;
    for (const f of checked.manifest.files) {
      const bytes = new Uint8Array(await (await fetch(`${base}/files/${f.sha256}`)).arrayBuffer());
      const problem = fileProblem(f, bytes);
      if (problem) throw new Error(problem);
      writeFileSync(join(this.opts.appDir, `${prefix}-${f.name}`), bytes);
    }
    const mod = (await import(pathToFileURL(join(this.opts.appDir, `${prefix}-${checked.manifest.entry}`)).href)) as { default: RunFn };
    this.apps.set(bundleHash, mod.default);
    return mod.default;
  }
}
