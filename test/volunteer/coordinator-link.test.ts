// The volunteers' link to a real coordinator: a connection refused because its address
// connects too fast, or a handshake refused because the host already has all the connections
// it may have (stale ones not yet timed out, say), is tried again later, not given up on as a
// refused key would be. A connection that drops fails the calls waiting on it at once, as such.
import { createServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { toHex } from '../../protocol/bytes.js';
import { CallError, CoordinatorLink, type Session } from '../../volunteer-core/coordinator-link.js';
import { syncCrypto } from '../../volunteer-core/crypto.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ed = nodeEd25519();
let coordinator: TestCoordinator | undefined;
let link: CoordinatorLink | undefined;
afterEach(async () => {
  link?.close();
  await coordinator?.dispose();
  coordinator = link = undefined;
});

function openLink(url: string, seed: string) {
  const events: string[] = [];
  const warnings: string[] = [];
  const opened = new CoordinatorLink({
    urls: [url],
    crypto: syncCrypto(ed),
    host: { seed, publicKey: toHex(ed.publicKeyFromSeed(Buffer.from(seed, 'hex'))) },
    platform: { kind: 'node', engine: 'v8' },
    capabilities: { cores: 1, wasm: true },
    hello: () => ({}),
    trust: () => {},
    retryRefusedMs: 200,
    log: {
      debug: () => {},
      info: () => {},
      warn: (msg, fields) => warnings.push(`${msg}: ${String(fields?.error ?? fields?.reason)}`),
      error: () => {},
    },
  });
  opened.on('fatal', (e) => events.push(`fatal: ${e.message}`));
  const ready = new Promise<Session>((resolve) => opened.on('ready', resolve));
  return { link: opened, events, warnings, ready };
}

it('connects once the host has a connection free again, after being refused as rate_limited', async () => {
  coordinator = await startTestCoordinator({ connectionsPerHost: 1 });
  const seed = toHex(ed.randomSeed());
  const holder = await TestVolunteer.connect(coordinator.url, { seed });

  const opened = openLink(coordinator.url, seed);
  link = opened.link;
  const { events, warnings, ready } = opened;

  await waitFor(() => warnings.length > 0);
  expect(warnings[0]).toBe(
    'handshake refused for now; reconnecting later: this host already has 1 connection open; close one before opening another',
  );
  holder.close();
  const session = await ready;
  expect(session.hostId).toBe(holder.hostId);
  expect(link.connected).toBe(true);
  expect(events).toEqual([]);
});

it('connects once its address may connect again, after the coordinator refused the connection', async () => {
  // One connection every 5 s, bursts of one: the first connection uses up the burst, and the
  // link's attempt right after it is refused even on a slow machine.
  coordinator = await startTestCoordinator({ connectRatePerIp: 0.2 });
  const others = [io(`${coordinator.url}/volunteer`, { transports: ['websocket'], reconnection: false })];
  try {
    await Promise.all(others.map((s) => new Promise<void>((resolve) => s.once('connect', () => resolve()))));
    const opened = openLink(coordinator.url, toHex(ed.randomSeed()));
    link = opened.link;
    await waitFor(() => opened.warnings.length > 0);
    expect(opened.warnings[0]).toBe('connection refused; trying again later: rate_limited: too many connections from this address; slow down');
    expect((await opened.ready).hostId).toBeGreaterThan(0);
    expect(opened.events).toEqual([]);
  } finally {
    for (const s of others) s.disconnect();
  }
});

it('fails a call waiting when the connection drops at once as disconnected, not as a timeout, and a handshake cut short is tried again', async () => {
  // A stand-in coordinator: the first connection's hello is never answered, and the test drops
  // it; the next one is served, and its 'slow' call is never answered either.
  const http = createServer();
  const connections = new Set<NetSocket>();
  http.on('connection', (c) => {
    connections.add(c);
    c.once('close', () => connections.delete(c));
  });
  const server = new Server(http);
  let hellos = 0;
  server.of('/volunteer').on('connection', (socket) => {
    socket.on('hello', (_m: unknown, ack: (r: unknown) => void) => {
      if (++hellos > 1) ack({ ok: true, challenge: 'ab'.repeat(32), coordinatorKey: 'cd'.repeat(32) });
    });
    socket.on('auth', (_m: unknown, ack: (r: unknown) => void) =>
      ack({ ok: true, hostId: 7, userId: 1, limits: { maxMessageBytes: 1048576, maxTasksPerRequest: 8, maxResultsPerReport: 8, heartbeatIntervalMs: 60_000 } }),
    );
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const dropAll = () => connections.forEach((c) => c.destroy());
  try {
    const opened = openLink(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, toHex(ed.randomSeed()));
    link = opened.link;
    await waitFor(() => hellos === 1);
    dropAll(); // during the handshake: socket.io reconnects, and the handshake runs again
    expect((await opened.ready).hostId).toBe(7);
    expect(opened.events).toEqual([]);

    const lost = new Promise<string>((resolve) => opened.link.on('lost', resolve));
    const pending = opened.link.call('slow', {}).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const droppedAt = Date.now();
    dropAll();
    const error = await pending;
    expect(Date.now() - droppedAt).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(CallError);
    expect(error).toMatchObject({ code: 'disconnected', message: 'lost the connection to the coordinator before it answered slow' });
    expect(await lost).toBe('the connection closed (the coordinator stopped, or the network failed)');
    // Meanwhile nothing is sent, to be answered (or time out) after the next handshake.
    await expect(opened.link.call('slow', {})).rejects.toMatchObject({ code: 'disconnected', message: 'not connected to the coordinator, so slow was not sent' });
    expect(opened.warnings).toEqual(['lost the coordinator; reconnecting: the connection closed (the coordinator stopped, or the network failed)']);
  } finally {
    link?.close();
    link = undefined;
    await new Promise((resolve) => server.close(resolve));
  }
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
