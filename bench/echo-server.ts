// The ceiling: a plain Socket.IO server with the coordinator's settings and no application
// behind it. It answers at once: "echo" with a tiny ack, and "tasks.request"/"results.report"
// with acks shaped and sized like the coordinator's to a protocol-3 host (made-up tasks, their
// signed list, acks), so a ceiling can be measured for the very messages the throughput run sends. Prints its URL on stdout.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';

const hex = (bytes: number) => 'ab'.repeat(bytes);

/** A task as the coordinator sends one (protocol 3): nine signed fields, the inline input, names; its list is signed. */
function fakeTask(taskId: number): object {
  return {
    taskId,
    workunitId: taskId,
    hostKey: hex(32),
    appVersionHash: hex(32),
    inputHash: hex(32),
    deadline: Date.now() + 86_400_000,
    rngSeed: hex(32),
    fpopsEst: 1e10,
    issuedAt: Date.now(),
    input: { n: taskId },
    project: 'bench-trivial',
    app: 'bench-trivial',
  };
}

const ackOf = (args: unknown[]) => {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as (r: object) => void) : undefined;
};

const http = createServer();
const io = new Server(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, serveClient: false });
let nextTaskId = 1;
io.of('/volunteer').on('connection', (socket) => {
  socket.on('echo', (...args: unknown[]) => ackOf(args)?.({ ok: true }));
  socket.on('tasks.request', (...args: unknown[]) => {
    const count = Math.min(64, Number((args[0] as { count?: unknown } | undefined)?.count) || 1);
    const tasks = Array.from({ length: count }, () => fakeTask(nextTaskId++));
    ackOf(args)?.({ ok: true, tasks, taskList: { hostKey: hex(32), taskHashes: tasks.map(() => hex(32)), signature: hex(64) } });
  });
  socket.on('results.report', (...args: unknown[]) => {
    const results = ((args[0] as { results?: { taskId: number }[] } | undefined)?.results ?? []).map((r) => ({ taskId: r.taskId, status: 'accepted' }));
    ackOf(args)?.({ ok: true, results });
  });
});
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`echo server running at http://127.0.0.1:${(http.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
