// Tools for the hostile-input fuzzer: a seeded PRNG (a failure replays from its seed), random
// JSON written as text (so it can hold what JSON.stringify cannot: 1e309, duplicate keys,
// "__proto__" members, nesting deeper than socket.io-client would encode), a Socket.IO client
// that sends raw packets and still receives their acks, and a raw HTTP client (no URL
// normalisation, so "../" reaches the coordinator as written) with a timeout on every request.
import { request, Agent } from 'node:http';
import { io, type Socket } from 'socket.io-client';

// ---- randomness ----

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(0, 15)];
    return s;
  }
}

// ---- random JSON as text ----

export const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then'];

/** Numbers as JSON text, including ones JSON.stringify never writes (1e309 parses as Infinity). */
const NUMBER_TEXTS = ['0', '-0', '1', '-1', '0.5', '1e309', '-1e309', '1e-400', '9007199254740993', '-9007199254740993', '1e21', '4294967296', '65', '64', '10001', '123456789012345678901234567890'];

const STRING_SAMPLES = [
  '',
  ' ',
  '__proto__',
  'constructor',
  '../../coordinator-key.json',
  '..\\..\\x.js',
  '%00',
  '\u0000',
  '\ud800',
  '<script>alert(1)</script>',
  'NaN',
  'Infinity',
  'null',
  'undefined',
  'success',
  'error',
  'node',
  '1',
  '0'.repeat(64),
  'F'.repeat(64),
  'g'.repeat(64),
  '0'.repeat(128),
  '0'.repeat(63),
  'é'.repeat(40),
];

export function str(rng: Rng, maxLen = 80): string {
  if (rng.chance(0.5)) return rng.pick(STRING_SAMPLES);
  const n = rng.int(0, maxLen);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.9) ? rng.int(32, 126) : rng.int(0, 0xffff));
  return s;
}

/** A JSON string literal; lone surrogates are escaped so the text stays valid UTF-8. */
export const q = (s: string): string => JSON.stringify(s).replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/** Any JSON value as text, at most `depth` levels of containers. */
export function junk(rng: Rng, depth = 3): string {
  const k = rng.int(0, depth > 0 ? 7 : 4);
  switch (k) {
    case 0:
      return rng.pick(['null', 'true', 'false']);
    case 1:
    case 2:
      return rng.pick(NUMBER_TEXTS);
    case 3:
    case 4:
      return q(str(rng));
    case 5: {
      const n = rng.int(0, 4);
      return `[${Array.from({ length: n }, () => junk(rng, depth - 1)).join(',')}]`;
    }
    default: {
      const n = rng.int(0, 4);
      const members = Array.from({ length: n }, () => `${q(rng.chance(0.4) ? rng.pick(HOSTILE_KEYS) : str(rng, 12))}:${junk(rng, depth - 1)}`);
      return `{${members.join(',')}}`;
    }
  }
}

/** A value of a type other than the one a field expects. */
export function wrongType(rng: Rng, expected: 'number' | 'string' | 'object' | 'array' | 'boolean'): string {
  const options: Record<string, string[]> = {
    number: ['null', 'true', '"1"', '[]', '{}', '"NaN"'],
    string: ['null', '1', 'true', '[]', '{}'],
    object: ['null', '1', '"x"', '[]', 'true'],
    array: ['null', '1', '"x"', '{}', 'true'],
    boolean: ['null', '1', '"true"', '[]', '{}'],
  };
  return rng.pick(options[expected]!);
}

/** Nested arrays or objects, `depth` deep, as text. */
export function deep(rng: Rng, depth: number): string {
  return rng.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A JSON array text of n elements. */
export function bigArray(n: number, element: string): string {
  return `[${new Array<string>(n).fill(element).join(',')}]`;
}

/** An object text from member texts (already encoded values), in the order given. */
export function obj(members: Record<string, string>): string {
  return `{${Object.entries(members)
    .map(([k, v]) => `${q(k)}:${v}`)
    .join(',')}}`;
}

// ---- a Socket.IO client that sends raw packets ----

interface ClientInternals {
  acks: Record<number, (...args: unknown[]) => void>;
  io: { engine: { write(data: string): void } };
}

export type AckOutcome = { kind: 'reply'; reply: unknown } | { kind: 'timeout' } | { kind: 'disconnected' };

export class RawSocket {
  readonly protocolErrors: unknown[] = [];
  private nextAck = 1_000_000;
  private readonly waiting = new Map<number, (o: AckOutcome) => void>();
  disconnected = false;
  disconnectReason = '';

  private constructor(readonly socket: Socket) {
    socket.on('protocol.error', (e: unknown) => this.protocolErrors.push(e));
    socket.on('disconnect', (reason) => {
      this.disconnected = true;
      this.disconnectReason = reason;
      for (const resolve of this.waiting.values()) resolve({ kind: 'disconnected' });
      this.waiting.clear();
    });
  }

  static async connect(url: string, transports: ('websocket' | 'polling')[] = ['websocket']): Promise<RawSocket> {
    const socket = io(`${url}/volunteer`, { transports, forceNew: true, reconnection: false, timeout: 10_000 });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return new RawSocket(socket);
  }

  /** Sends `["event", …args]` (args as JSON text) with an ack id, and waits for the ack. */
  send(event: string, argsText: string[], timeoutMs = 10_000): Promise<AckOutcome> {
    if (this.disconnected) return Promise.resolve({ kind: 'disconnected' });
    const id = this.nextAck++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        delete this.internals.acks[id];
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      const done = (o: AckOutcome) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(o);
      };
      this.waiting.set(id, done);
      this.internals.acks[id] = (reply: unknown) => done({ kind: 'reply', reply });
      this.write(`2/volunteer,${id}[${[q(event), ...argsText].join(',')}]`);
    });
  }

  /** Sends an event without an ack id: the coordinator can only answer with protocol.error. */
  sendNoAck(event: string, argsText: string[]): void {
    this.write(`2/volunteer,[${[q(event), ...argsText].join(',')}]`);
  }

  /** A raw Socket.IO packet (after the Engine.IO "message" type). */
  write(packet: string): void {
    this.internals.io.engine.write(packet);
  }

  waitDisconnect(timeoutMs: number): Promise<boolean> {
    if (this.disconnected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('disconnect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }

  private get internals(): ClientInternals {
    return this.socket as unknown as ClientInternals;
  }
}

// ---- raw HTTP ----

export interface HttpReply {
  status: number;
  contentType: string;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One request with a hard timeout; `path` goes on the wire exactly as given. */
export function httpRaw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Uint8Array,
  timeoutMs = 15_000,
): Promise<HttpReply | { status: 'timeout' | 'error'; message: string }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: HttpReply | { status: 'timeout' | 'error'; message: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    let req: ReturnType<typeof request>;
    try {
      req = request({ host: url.hostname, port: url.port, method, path, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => finish({ status: 'error', message: e.message }));
      });
    } catch (e) {
      // The request could not even be written (an illegal character): a bug in the test.
      return resolve({ status: 'error', message: `cannot send ${method} ${path.slice(0, 80)}: ${(e as Error).message}` });
    }
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: 'timeout', message: `${method} ${path.slice(0, 120)} did not answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', (e) => finish({ status: 'error', message: e.message }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function closeHttpAgent(): void {
  agent.destroy();
}

/** Percent-encodes everything but unreserved characters, so any string is a legal path segment. */
export const seg = (s: string): string =>
  Array.from(new TextEncoder().encode(s), (b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`)).join('');
