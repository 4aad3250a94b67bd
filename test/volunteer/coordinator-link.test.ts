// The volunteers' link to a real coordinator: a connection refused because its address
// connects too fast, or a handshake refused because the host already has all the connections
// it may have (stale ones not yet timed out, say), is tried again later, not given up on as a
// refused key would be.
import { io } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { toHex } from '../../protocol/bytes.js';
import { CoordinatorLink, type Session } from '../../volunteer-core/coordinator-link.js';
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
    url,
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
      warn: (msg, fields) => warnings.push(`${msg}: ${String(fields?.error)}`),
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

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
