// The daemon's control socket, both ends: a Unix socket in the data dir that only the data
// dir's owner can open (the socket 0600 in a 0700 dir, both owned by the user running the
// daemon; either end refuses otherwise), one JSON request and one JSON reply per connection.
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../common/zod-message.js';
import { CONTROL_SOCKET, ControlReplySchemas, ControlRequestSchema, ErrorReplySchema, MAX_CONTROL_LINE_BYTES, type ControlCommand, type ControlReply, type ControlRequest } from './control-protocol.js';

/** Unix socket paths are limited to 107 bytes on Linux (103 on macOS). */
const MAX_SOCKET_PATH = 103;
const CLIENT_TIMEOUT_MS = 10_000;

export const controlSocketPath = (dataDir: string) => join(dataDir, CONTROL_SOCKET);

const uid = () => process.getuid?.();

/** Why a path is not private to this user, or undefined when it is (mode without group or other bits, owned by us). */
export function notPrivate(path: string, what: string): string | undefined {
  const st = lstatSync(path);
  const me = uid();
  if (me !== undefined && st.uid !== me) return `${what} ${path} belongs to user ${st.uid}, not to this user (${me})`;
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) return `${what} ${path} can be opened by other users (mode ${mode.toString(8)}); chmod go-rwx ${path}`;
  return undefined;
}

export type ControlHandler = (request: ControlRequest) => Promise<object> | object;

/**
 * Listens on <dataDir>/control.sock. Throws when the data dir is not private, or when another
 * daemon answers on the socket (two daemons on one data dir would share a journal).
 */
export async function listenControl(dataDir: string, handle: ControlHandler): Promise<Server> {
  const path = controlSocketPath(dataDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw new Error(`the control socket's path ${path} is longer than a Unix socket may be; use a shorter --data-dir`);
  const problem = notPrivate(dataDir, 'the data dir');
  if (problem) throw new Error(`not opening the control socket: ${problem}`);
  let stale = false;
  try {
    stale = lstatSync(path).isSocket();
  } catch {
    // none there
  }
  if (stale) {
    if (await answers(path)) throw new Error(`another volunteer is running with the data dir ${dataDir} (it answers on ${path}); stop it, or use another --data-dir`);
    unlinkSync(path);
  }
  const server = createServer((socket) => serve(socket, handle));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  // The dir is 0700, so nobody else could reach it meanwhile; the socket itself is made 0600 too.
  chmodSync(path, 0o600);
  server.unref();
  return server;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function serve(socket: Socket, handle: ControlHandler): void {
  socket.setTimeout(CLIENT_TIMEOUT_MS, () => socket.destroy());
  const reply = (body: object) => socket.end(`${JSON.stringify(body)}\n`);
  readLine(socket).then(
    async (line) => {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        return reply({ ok: false, error: { code: 'bad_request', message: 'the request is not JSON' } });
      }
      const parsed = ControlRequestSchema.safeParse(raw);
      if (!parsed.success) return reply({ ok: false, error: { code: 'bad_request', message: describeIssues(parsed.error) } });
      try {
        reply(await handle(parsed.data));
      } catch (e) {
        reply({ ok: false, error: { code: 'failed', message: e instanceof Error ? e.message : String(e) } });
      }
    },
    (e: Error) => reply({ ok: false, error: { code: 'bad_request', message: e.message } }),
  );
}

/** The first line a socket sends (without its newline), at most MAX_CONTROL_LINE_BYTES. */
function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a);
      const part = nl >= 0 ? chunk.subarray(0, nl) : chunk;
      chunks.push(part);
      size += part.length;
      if (size > MAX_CONTROL_LINE_BYTES) return done(new Error(`a line over ${MAX_CONTROL_LINE_BYTES} bytes`));
      if (nl >= 0) done();
    };
    const onEnd = () => done(size > 0 ? undefined : new Error('the connection closed before a full line'));
    const done = (e?: Error) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (e) reject(e);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', (e) => done(e));
  });
}

export class ControlError extends Error {
  override name = 'ControlError';
}

/**
 * Sends one request to the daemon running with `dataDir` and returns its checked reply. Throws a
 * ControlError when there is none, when the dir or socket is not private, or when the daemon
 * refuses the request.
 */
export async function callControl<C extends ControlCommand>(dataDir: string, request: Extract<ControlRequest, { cmd: C }>): Promise<ControlReply<C>> {
  const path = controlSocketPath(dataDir);
  try {
    statSync(dataDir);
  } catch {
    throw new ControlError(`no data dir ${dataDir}: is --data-dir the one the volunteer runs with?`);
  }
  const dirProblem = notPrivate(dataDir, 'the data dir');
  if (dirProblem) throw new ControlError(`refusing to talk to a volunteer through it: ${dirProblem}`);
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    throw new ControlError(`no volunteer is running with the data dir ${dataDir} (no ${CONTROL_SOCKET} there)`);
  }
  if (!isSocket) throw new ControlError(`${path} is not a socket`);
  const socketProblem = notPrivate(path, 'the control socket');
  if (socketProblem) throw new ControlError(`refusing to use it: ${socketProblem}`);

  const line = await new Promise<string>((resolve, reject) => {
    const s = connect(path);
    s.setTimeout(CLIENT_TIMEOUT_MS, () => {
      s.destroy();
      reject(new ControlError(`the volunteer did not answer within ${CLIENT_TIMEOUT_MS / 1000} s`));
    });
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(new ControlError(e.code === 'ECONNREFUSED' ? `no volunteer is running with the data dir ${dataDir} (its socket is left over)` : e.message)),
    );
    s.once('connect', () => s.write(`${JSON.stringify(request)}\n`));
    readLine(s).then(resolve, (e: Error) => reject(new ControlError(`the volunteer's reply: ${e.message}`)));
  });
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ControlError('the volunteer replied with something that is not JSON');
  }
  const refused = ErrorReplySchema.safeParse(raw);
  if (refused.success) throw new ControlError(`${refused.data.error.code}: ${refused.data.error.message}`);
  const parsed = (ControlReplySchemas[request.cmd] as unknown as z.ZodType<ControlReply<C>>).safeParse(raw);
  if (!parsed.success) throw new ControlError(`the volunteer's reply does not fit (is it another version?): ${describeIssues(parsed.error)}`);
  return parsed.data;
}
