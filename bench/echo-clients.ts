// Clients of bench/echo-server.ts, run as a child of bench/main.ts with the same IPC commands
// and figures as bench/sim-volunteers.ts. Each connection loops without computing or signing:
// with a work mode of count 0 it sends "echo" and waits for the ack; with count N it does what
// a simulated volunteer does on the wire, "tasks.request" for N and "results.report" of N
// made-up results of the real size, shaped as protocol 3 sends them (no signature of their own,
// one list signature a report). Usage: node --import tsx bench/echo-clients.ts '<SimConfig>'
import { io, type Socket } from 'socket.io-client';
import { emptySimStats, type FromSim, type SimConfig, type SimStats, type ToSim } from './sim-messages.js';

const send = (m: FromSim) => process.send?.(m);
const config = JSON.parse(process.argv[2] ?? '{}') as SimConfig;
process.on('disconnect', () => process.exit(0));

const sockets: Socket[] = [];
let stopping = false;
let working: Promise<void>[] = [];
let stats: SimStats;
let cpuAtStart = process.cpuUsage();

const hex = (bytes: number) => 'cd'.repeat(bytes);

const fresh = emptySimStats;

async function connectAll(): Promise<void> {
  const started = Date.now();
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: config.hosts }, async () => {
      const socket = io(`${config.url}/volunteer`, { transports: ['websocket'], forceNew: true, reconnection: false });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', (e) => reject(e));
        });
        sockets.push(socket);
      } catch (e) {
        errors.push((e as Error).message);
        socket.disconnect();
      }
    }),
  );
  send({ type: 'ready', connected: sockets.length, failed: config.hosts - sockets.length, connectMs: Date.now() - started, errors: errors.slice(0, 5), rssBytes: process.memoryUsage().rss });
}

async function timed(into: SimStats['requests'], n: number, call: () => Promise<unknown>): Promise<unknown> {
  const at = Date.now();
  const t0 = performance.now();
  const reply = await call();
  into.at.push(at);
  into.ms.push(Math.round((performance.now() - t0) * 1000) / 1000);
  into.n.push(n);
  return reply;
}

async function loop(socket: Socket, count: number): Promise<void> {
  const s = socket.timeout(30_000);
  while (!stopping && socket.connected) {
    try {
      if (count === 0) {
        await timed(stats.requests, 1, () => s.emitWithAck('echo', {}));
        continue;
      }
      const reply = (await timed(stats.requests, count, () => s.emitWithAck('tasks.request', { count, holding: [] }))) as { tasks: { taskId: number; workunitId: number }[] };
      const results = reply.tasks.map((t) => ({
        taskId: t.taskId,
        workunitId: t.workunitId,
        hostKey: hex(32),
        outcome: 'success',
        outputHash: hex(32),
        cpuTimeMs: 0,
        elapsedMs: 0,
        output: { n: t.taskId, square: t.taskId * t.taskId },
      }));
      const resultList = { hostKey: hex(32), resultHashes: results.map(() => hex(32)), signature: hex(64) };
      await timed(stats.reports, results.length, () => s.emitWithAck('results.report', { results, resultList }));
      stats.tasks += results.length;
    } catch (e) {
      stats.errorCount++;
      if (stats.errors.length < 5) stats.errors.push((e as Error).message);
    }
  }
}

process.on('message', (m: ToSim) => {
  if (m.type === 'work') {
    stopping = false;
    stats = fresh();
    cpuAtStart = process.cpuUsage();
    working = sockets.map((s) => loop(s, m.mode.count));
  } else if (m.type === 'stop') {
    stopping = true;
    void Promise.all(working).then(() => {
      const cpu = process.cpuUsage(cpuAtStart);
      stats.cpuMs = (cpu.user + cpu.system) / 1000;
      send({ type: 'stats', stats });
    });
  } else {
    for (const s of sockets) s.disconnect();
    process.exit(0);
  }
});

connectAll().catch((e: unknown) => send({ type: 'error', message: String(e) }));
