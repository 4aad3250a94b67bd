// One simulated volunteer host: its own Ed25519 key and its own Socket.IO connection, speaking
// the documented protocol (docs/protocol.md): hello, auth, tasks.request, results.report. It
// computes the trivial app's output directly, with no sandbox, and signs real results.
import { io, type Socket } from 'socket.io-client';
import { protocolCall } from '../common/socket-call.js';
import { fromHex, toHex } from '../protocol/bytes.js';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import type { Result, ResultAck, Task } from '../protocol/messages.js';
import { buildResult } from '../protocol/results.js';
import { signBody } from '../protocol/signing.js';
import { taskProblem } from '../protocol/verify.js';
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
    /** Check the coordinator's signature on one task in this many (0: never); the host key always. */
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
      protocol: 2,
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
  async request(count: number): Promise<Task[]> {
    const { tasks } = await this.call<{ tasks: Task[] }>('tasks.request', { count, holding: [] });
    for (const t of tasks) {
      if (t.hostKey !== this.publicKey) throw new Error(`task ${t.taskId} was issued to another host`);
      if (this.verifyEvery > 0 && this.checked++ % this.verifyEvery === 0) {
        const problem = taskProblem(ed, this.coordinatorKey, this.publicKey, t);
        if (problem) throw new Error(`task ${t.taskId}: ${problem}`);
      }
    }
    return tasks;
  }

  compute(task: Task): Result {
    return buildResult(ed, this.seed, task, { output: trivialOutput(task.input) }, { cpuTimeMs: 0, elapsedMs: 0 });
  }

  async report(results: Result[]): Promise<ResultAck[]> {
    return (await this.call<{ results: ResultAck[] }>('results.report', { results })).results;
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
