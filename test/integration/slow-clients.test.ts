// Clients that hold connections without using them, against the real coordinator with real
// sockets (and short timeouts set through its config): headers or a body trickled a byte at a
// time are cut, an honest upload that is slow but keeps coming is not (nor one the coordinator
// is slow to read), and one address cannot open more than its share of connections.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../coordinator/config.js';
import { API, ApiClient, ndjsonStream, newApp, type Submitted } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';

let c: TestCoordinator | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await c?.dispose();
  c = undefined;
});

/** A raw TCP connection to the coordinator: what it received, and when it was closed. */
interface Raw {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

async function open(url: string): Promise<Raw> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  sockets.push(socket);
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => received, closed };
}

/** Writes `text` a byte at a time every `everyMs` until the socket closes (or the text runs out). */
async function trickle(raw: Raw, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (raw.socket.destroyed || raw.socket.writableEnded) break;
    raw.socket.write(ch);
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

/** Whether the socket closed within `ms`. */
const closesWithin = (raw: Raw, ms: number) => Promise.race([raw.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

async function coordinatorWith(config: Partial<Config>): Promise<{ c: TestCoordinator; admin: ApiClient; batches: string }> {
  c = await startTestCoordinator(config);
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const { app } = await newApp(admin, 'slow');
  return { c, admin, batches: `${API}/apps/${app.id}/batches` };
}

describe('slow clients', () => {
  it('headers trickled a byte at a time are cut after --headers-timeout-ms', { timeout: 30_000 }, async () => {
    const { c } = await coordinatorWith({ headersTimeoutMs: 500 });
    const raw = await open(c.url);
    const started = Date.now();
    void trickle(raw, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`, 50);
    expect(await closesWithin(raw, 8000)).toBe(true);
    expect((await raw.closed) - started).toBeGreaterThanOrEqual(450);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a body trickled a byte at a time is cut with 408, and the batch it began is discarded', { timeout: 30_000 }, async () => {
    const { c, admin, batches } = await coordinatorWith({ bodyTimeoutMs: 500, bodyMinBytesPerSecond: 100 });
    const raw = await open(c.url);
    const lines = Array.from({ length: 500 }, (_, i) => `${i}\n`).join('');
    raw.socket.write(`POST ${batches}?name=trickle HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${lines.length}\r\n\r\n`);
    raw.socket.write(lines.slice(0, 200)); // a fair start, then a byte every 100 ms: 10 bytes a second
    const sent = trickle(raw, lines.slice(200), 100);
    expect(await closesWithin(raw, 8000)).toBe(true);
    expect(await sent).toBeLessThan(100);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 [^]*"code":"timeout","message":"the body came too slowly: under 100 bytes a second over 500 ms"/);
    const count = () => (c.store.db.prepare('SELECT COUNT(*) AS n FROM batches').get() as { n: number }).n;
    await expect.poll(count, { timeout: 5000 }).toBe(0);
  });

  it('app files trickled in are cut too, and the coordinator goes on', { timeout: 30_000 }, async () => {
    const { c, admin, batches } = await coordinatorWith({ bodyTimeoutMs: 500, bodyMinBytesPerSecond: 100 });
    const appId = batches.split('/')[4];
    const raw = await open(c.url);
    const part = `--x\r\nContent-Disposition: form-data; name="files"; filename="main.js"\r\n\r\n${'/'.repeat(400)}\r\n--x--\r\n`;
    raw.socket.write(`POST ${API}/apps/${appId}/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: ${part.length}\r\n\r\n`);
    void trickle(raw, part, 100);
    expect(await closesWithin(raw, 8000)).toBe(true);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
    expect((await admin.get<{ versions: unknown[] }>(`/apps/${appId}`)).body.versions).toHaveLength(1);
  });

  it('an upload that is slow but keeps coming goes through', { timeout: 30_000 }, async () => {
    const { c, admin, batches } = await coordinatorWith({ bodyTimeoutMs: 300, bodyMinBytesPerSecond: 1000 });
    const raw = await open(c.url);
    const lines = Array.from({ length: 1000 }, (_, i) => `${JSON.stringify({ i })}\n`).join('');
    raw.socket.write(`POST ${batches}?name=slow-but-steady HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${lines.length}\r\nConnection: close\r\n\r\n`);
    // 500 bytes every 200 ms (2,500 a second) for about 4 s: many windows longer than the whole time allowed per window.
    for (let at = 0; at < lines.length; at += 500) {
      raw.socket.write(lines.slice(at, at + 500));
      await new Promise((r) => setTimeout(r, 200));
    }
    await raw.closed;
    expect(raw.received()).toMatch(/^HTTP\/1\.1 201 /);
    expect(raw.received()).toContain('"workunits":1000');
  });

  it('a big batch the coordinator takes a while to ingest is not cut for the time it spends itself', { timeout: 60_000 }, async () => {
    // 4 MB a second over every 250 ms: more than the whole body averages while the coordinator
    // ingests it (its socket paused, its event loop busy), far less than loopback carries while it reads.
    const { admin, batches } = await coordinatorWith({ bodyTimeoutMs: 250, bodyMinBytesPerSecond: 4_000_000 });
    const r = await admin.stream<Submitted>(batches.slice(API.length), 'application/x-ndjson', ndjsonStream(100_000, (i) => JSON.stringify({ i, from: i * 10, to: i * 10 + 10 })), { name: 'big' });
    expect(r.status).toBe(201);
    expect(r.body.workunits).toBe(100_000);
  });

  it('one address may open --connections-per-ip connections; more are refused, and served again once some close', { timeout: 30_000 }, async () => {
    const { c } = await coordinatorWith({ connectionsPerIp: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => open(c.url)));
    const refused = await open(c.url);
    expect(await closesWithin(refused, 5000)).toBe(true);
    expect(refused.received()).toMatch(/^HTTP\/1\.1 429 [^]*"code":"rate_limited","message":"too many connections from this address \(at most 5 at once\)/);
    // The ones held are served.
    held[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => held[0]!.received(), { timeout: 5000 }).toMatch(/^HTTP\/1\.1 200 /);
    held[1]!.socket.destroy();
    await held[1]!.closed;
    await new Promise((r) => setTimeout(r, 100));
    const again = await open(c.url);
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await again.closed;
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('connections from a --trust-proxy address are not capped: behind a proxy every client shares its address', { timeout: 30_000 }, async () => {
    const { c } = await coordinatorWith({ connectionsPerIp: 3, trustProxy: ['loopback'] });
    const held = await Promise.all(Array.from({ length: 6 }, () => open(c.url)));
    for (const raw of held) raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await Promise.all(held.map((raw) => raw.closed));
    for (const raw of held) expect(raw.received()).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('300 connections trickling bodies are all cut, and the coordinator serves others meanwhile', { timeout: 60_000 }, async () => {
    const { c, admin, batches } = await coordinatorWith({ bodyTimeoutMs: 500, bodyMinBytesPerSecond: 100, connectionsPerIp: 400 });
    const raws = await Promise.all(Array.from({ length: 300 }, () => open(c.url)));
    for (const raw of raws) {
      raw.socket.write(`POST ${batches}?name=t HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n1\n`);
    }
    const ticker = setInterval(() => raws.forEach((r) => !r.socket.destroyed && r.socket.write('\n')), 200);
    try {
      expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
      const closed = await Promise.all(raws.map((r) => closesWithin(r, 10_000)));
      expect(closed.filter((x) => !x)).toEqual([]);
    } finally {
      clearInterval(ticker);
    }
    expect(raws.every((r) => /^HTTP\/1\.1 408 /.test(r.received()))).toBe(true);
  });
});
