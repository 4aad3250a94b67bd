// One simulated volunteer host: its own Ed25519 key and its own Socket.IO connection, speaking
// the documented protocol (docs/protocol.md, version 3): hello, auth, tasks.request,
// results.report. It computes the trivial app's output directly, with no sandbox, and signs each
// report's list of results as a real host does.
import { io, type Socket } from 'socket.io-client';
import { protocolCall } from '../common/socket-call.js';
import { fromHex, toHex } from '../protocol/bytes.js';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import type { ResultAck, SignedTaskList, UnsignedResult, UnsignedTask } from '../protocol/messages.js';
import { buildUnsignedResult } from '../protocol/results.js';
import { signResultList } from '../protocol/signed-lists.js';
import { signBody } from '../protocol/signing.js';
import { listedTaskProblems } from '../protocol/verify.js';
import { trivialOutput } from './apps.js';

const ed = nodeEd25519();
const REPLY_TIMEOUT_MS = 60_000;

export class SimHost {
  readonly seed: string;
  readonly publicKey: string;
  hostId = 0;
  private coordinatorKey = '';
  private socket: Socket | undefined;
  private checked = 0;
  /** When its connection last dropped by itself (not closed by us), epoch ms. */
  lostAt: number | undefined;

  constructor(
    readonly name: string,
    /**
     * Check the coordinator's signature about once in this many tasks (0: never): a reply's one
     * list signature, and each of its tasks against the list, when one of its tasks is the Nth
     * since the last check (as many checks a task as protocol 2's one task in N). The host key always.
     */
    private readonly verifyEvery: number,
  ) {
    this.seed = toHex(ed.randomSeed());
    this.publicKey = toHex(ed.publicKeyFromSeed(fromHex(this.seed)));
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** Connects and proves its key; throws with the reason when it could not. */
  async connect(url: string): Promise<void> {
    this.close();
    const socket = io(`${url}/volunteer`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30_000 });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (e) => reject(new Error(`connect: ${e.message}`)));
      socket.once('disconnect', (reason) => reject(new Error(`connect: ${reason}`)));
    });
    socket.off('connect_error').off('disconnect');
    socket.once('disconnect', () => {
      if (this.socket === socket) this.lostAt = Date.now();
    });
    const hello = await this.call<{ challenge: string; coordinatorKey: string }>('hello', {
      protocol: PROTOCOL_VERSION,
      hostKey: this.publicKey,
      platform: { kind: 'node', engine: 'v8' },
      capabilities: { cores: 1, wasm: true },
      name: this.name,
    });
    this.coordinatorKey = hello.coordinatorKey;
    const signature = signBody(ed, this.seed, 'auth', { nonce: hello.challenge, hostKey: this.publicKey, coordinatorKey: hello.coordinatorKey });
    this.hostId = (await this.call<{ hostId: number }>('auth', { signature })).hostId;
  }

  /** Asks for tasks; it holds none when it asks (it reports everything first). */
  async request(count: number): Promise<UnsignedTask[]> {
    const { tasks, taskList } = await this.call<{ tasks: UnsignedTask[]; taskList?: SignedTaskList }>('tasks.request', { count, holding: [] });
    for (const t of tasks) if (t.hostKey !== this.publicKey) throw new Error(`task ${t.taskId} was issued to another host`);
    const before = this.checked;
    this.checked += tasks.length;
    if (this.verifyEvery > 0 && Math.ceil(this.checked / this.verifyEvery) > Math.ceil(before / this.verifyEvery)) {
      listedTaskProblems(ed, this.coordinatorKey, this.publicKey, tasks, taskList).forEach((problem, i) => {
        if (problem) throw new Error(`task ${tasks[i]!.taskId}: ${problem}`);
      });
    }
    return tasks;
  }

  compute(task: UnsignedTask): UnsignedResult {
    return buildUnsignedResult(task, { output: trivialOutput(task.input) }, { cpuTimeMs: 0, elapsedMs: 0 });
  }

  /** One signature for the report: over its results' list. */
  async report(results: UnsignedResult[]): Promise<ResultAck[]> {
    const resultList = signResultList(ed, this.seed, this.publicKey, results);
    return (await this.call<{ results: ResultAck[] }>('results.report', { results, resultList })).results;
  }

  close(): void {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
  }

  private call<T extends object>(event: string, payload: unknown): Promise<T> {
    return protocolCall<T>(this.socket, event, payload, REPLY_TIMEOUT_MS);
  }
}
