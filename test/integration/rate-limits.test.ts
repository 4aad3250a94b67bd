// Rate limits per address (HTTP requests, Socket.IO connections), per connection and per host
// (volunteer messages, connections of one key): over the limit a client gets a clear
// "rate_limited", and the coordinator goes on.
import { io } from 'socket.io-client';
import { toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { signBody } from '../../protocol/signing.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { mostAllowed } from '../helpers/token-bucket.js';

let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.dispose();
  coordinator = undefined;
});

// Upper bounds follow the time each test took (mostAllowed); the rates are low enough that a
// refusal still needs no luck.
describe('rate limits', () => {
  it('answers 429 with Retry-After to an address over its HTTP rate', async () => {
    coordinator = await startTestCoordinator({ httpRatePerIp: 10 });
    const since = Date.now();
    const statuses = await Promise.all(Array.from({ length: 80 }, () => fetch(`${coordinator!.url}/healthz`).then((r) => r.status)));
    // The burst (50) goes through, plus whatever refilled meanwhile on a slow machine.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(50);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(mostAllowed(50, 10, since));
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    // Tokens refill at 10/s, so on a slow machine a few may have come back since the burst:
    // the next requests use them up, and then an API route is refused too.
    let limited = await fetch(`${coordinator.url}/api/v1/leaderboards/users`);
    for (let i = 0; limited.status === 200 && i < 100; i++) {
      await limited.arrayBuffer();
      limited = await fetch(`${coordinator.url}/api/v1/leaderboards/users`);
    }
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.json()).toEqual({ error: { code: 'rate_limited', message: 'too many requests from this address; slow down' } });
    await new Promise((r) => setTimeout(r, 1200));
    expect((await fetch(`${coordinator.url}/healthz`)).status).toBe(200);
  });

  it('refuses Socket.IO connections over the per-address rate', async () => {
    // One connection every 2 s, bursts of 2.5.
    coordinator = await startTestCoordinator({ connectRatePerIp: 0.5 });
    const since = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 15 }, async () => {
        const s = io(`${coordinator!.url}/volunteer`, { transports: ['websocket'], forceNew: true, reconnection: false });
        try {
          return await new Promise<string>((resolve) => {
            s.once('connect', () => resolve('connected'));
            s.once('connect_error', (e) => resolve(e.message));
          });
        } finally {
          s.disconnect();
        }
      }),
    );
    const connected = outcomes.filter((o) => o === 'connected').length;
    expect(connected).toBeGreaterThanOrEqual(2);
    expect(connected).toBeLessThanOrEqual(mostAllowed(2.5, 0.5, since));
    expect(outcomes.filter((o) => o.startsWith('rate_limited')).length).toBe(15 - connected);
    expect(connected).toBeLessThan(15);
  });

  it('answers rate_limited to a connection sending too many messages, and serves it again after a pause', async () => {
    // Two messages a second, bursts of 10.
    coordinator = await startTestCoordinator({ messageRatePerSocket: 2 });
    const since = Date.now();
    const v = await TestVolunteer.connect(coordinator.url);
    try {
      // hello and auth took two of the 10 messages of the burst.
      const replies = await Promise.all(Array.from({ length: 40 }, () => v.socket.timeout(5000).emitWithAck('heartbeat', {}) as Promise<{ ok: boolean; error?: { code: string } }>));
      expect(replies.filter((r) => r.ok).length).toBeGreaterThanOrEqual(8);
      expect(replies.filter((r) => r.ok).length).toBeLessThanOrEqual(mostAllowed(8, 2, since));
      expect(replies.filter((r) => !r.ok).length).toBeGreaterThan(0);
      expect(replies.filter((r) => !r.ok).every((r) => r.error?.code === 'rate_limited')).toBe(true);
      await new Promise((r) => setTimeout(r, 1000));
      expect(((await v.socket.timeout(5000).emitWithAck('heartbeat', {})) as { ok: boolean }).ok).toBe(true);
    } finally {
      v.close();
    }
  });

  it('counts the messages of all of a host’s connections together; other hosts are not affected', async () => {
    // Two messages a second, bursts of 10.
    coordinator = await startTestCoordinator({ messageRatePerHost: 2 });
    const since = Date.now();
    const a1 = await TestVolunteer.connect(coordinator.url);
    const a2 = await TestVolunteer.connect(coordinator.url, { seed: a1.seed });
    const b = await TestVolunteer.connect(coordinator.url);
    try {
      type Ack = { ok: boolean; error?: { code: string; message: string } };
      const burst = (v: TestVolunteer, n: number) => Promise.all(Array.from({ length: n }, () => v.send('heartbeat', {}) as Promise<Ack>));
      const [r1, r2, rb] = await Promise.all([burst(a1, 20), burst(a2, 20), burst(b, 10)]);
      const mine = [...r1, ...r2];
      // The burst of 10, plus what refills while the test runs.
      expect(mine.filter((r) => r.ok).length).toBeGreaterThanOrEqual(10);
      expect(mine.filter((r) => r.ok).length).toBeLessThanOrEqual(mostAllowed(10, 2, since));
      expect(mine.filter((r) => !r.ok).length).toBeGreaterThan(0);
      for (const r of mine.filter((x) => !x.ok)) {
        expect(r.error).toEqual({ code: 'rate_limited', message: 'too many messages from this host over all its connections; slow down' });
      }
      expect(rb.every((r) => r.ok)).toBe(true);
    } finally {
      for (const v of [a1, a2, b]) v.close();
    }
  });

  it('refuses a host more connections than --connections-per-host, until one closes', async () => {
    coordinator = await startTestCoordinator({ connectionsPerHost: 2 });
    const first = await TestVolunteer.connect(coordinator.url);
    const second = await TestVolunteer.connect(coordinator.url, { seed: first.seed });
    const open = [first, second];
    try {
      await expect(TestVolunteer.connect(coordinator.url, { seed: first.seed })).rejects.toThrow(
        'this host already has 2 connections open; close one before opening another',
      );
      // Another host is not affected, and the refused attempt changed nothing for this one.
      open.push(await TestVolunteer.connect(coordinator.url));
      expect((await first.send('heartbeat', {})).ok).toBe(true);

      second.close();
      await waitFor(async () => {
        try {
          open.push(await TestVolunteer.connect(coordinator!.url, { seed: first.seed }));
          return true;
        } catch {
          return false;
        }
      });
      expect(open.at(-1)!.hostId).toBe(first.hostId);
    } finally {
      for (const v of open) v.close();
    }
  });
});

describe('a socket that says hello again', () => {
  it('leaves the room of the host it was: no longer counted as one of its connections (nor sent its pushes)', async () => {
    coordinator = await startTestCoordinator({ connectionsPerHost: 1 });
    const ed = nodeEd25519();
    const a = await TestVolunteer.connect(coordinator.url);
    const open = [a];
    try {
      // The same socket becomes host B.
      const seedB = toHex(ed.randomSeed());
      const keyB = toHex(ed.publicKeyFromSeed(Buffer.from(seedB, 'hex')));
      const hello = (await a.socket.emitWithAck('hello', { protocol: 2, hostKey: keyB, platform: { kind: 'node', engine: 'v8' }, capabilities: {} })) as {
        challenge: string;
        coordinatorKey: string;
      };
      const signature = signBody(ed, seedB, 'auth', { nonce: hello.challenge, hostKey: keyB, coordinatorKey: hello.coordinatorKey });
      const auth = (await a.socket.emitWithAck('auth', { signature })) as { ok: boolean; hostId: number };
      expect(auth.ok).toBe(true);
      expect(auth.hostId).not.toBe(a.hostId);

      // Host A has no connection left, so it may open one; B has its one.
      open.push(await TestVolunteer.connect(coordinator.url, { seed: a.seed }));
      await expect(TestVolunteer.connect(coordinator.url, { seed: seedB })).rejects.toThrow('this host already has 1 connection open');
    } finally {
      for (const v of open) v.close();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
