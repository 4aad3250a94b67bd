// The volunteers' link across several coordinator instances, against stand-ins that serve the
// discovery document, /readyz and the handshake: it learns the instances from the document of
// the URL it was given, connects to its first choice by its key, fails over to the next when that
// one dies, and moves back once it is ready again, never while a call waits for its answer.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { CoordinatorLink, type InstanceMove, type Session } from '../../volunteer-core/coordinator-link.js';
import { syncCrypto } from '../../volunteer-core/crypto.js';
import { instanceOrder } from '../../volunteer-core/instance-order.js';

const ed = nodeEd25519();
type Ack = (reply: unknown) => void;

/** A stand-in instance on `port` (0: any) whose document lists `instances()`. */
async function standIn(instances: () => string[], port = 0) {
  const connections = new Set<NetSocket>();
  const asked = { ready: 0 };
  const http: HttpServer = createServer((req, res) => {
    if (req.url === '/.well-known/volunteer-grid.json') {
      res.setHeader('content-type', 'application/json');
      const listed = instances();
      res.end(JSON.stringify({ software: 'volunteer-grid', protocol: 2, coordinatorKey: 'cd'.repeat(32), ...(listed.length > 0 ? { instances: listed } : {}) }));
    } else if (req.url === '/readyz') {
      asked.ready++;
      res.end('{"ready":true}');
    }
    else res.writeHead(404).end();
  });
  http.on('connection', (c) => {
    connections.add(c);
    c.once('close', () => connections.delete(c));
  });
  const io = new Server(http);
  const held: Ack[] = [];
  io.of('/volunteer').on('connection', (socket) => {
    socket.on('hello', (_m: unknown, ack: Ack) => ack({ ok: true, challenge: 'ab'.repeat(32), coordinatorKey: 'cd'.repeat(32) }));
    socket.on('auth', (_m: unknown, ack: Ack) =>
      ack({ ok: true, hostId: 1, userId: 1, limits: { maxMessageBytes: 1048576, maxTasksPerRequest: 8, maxResultsPerReport: 8, heartbeatIntervalMs: 60_000 } }),
    );
    socket.on('slow', (_m: unknown, ack: Ack) => held.push(ack)); // answered when the test says
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const bound = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    answerHeld: () => held.splice(0).forEach((ack) => ack({ ok: true })),
    /** How often /readyz was asked. */
    get readyChecks() {
      return asked.ready;
    },
    /** As a killed process: every connection cut, nothing listening. */
    async goAway() {
      for (const c of connections) c.destroy();
      await new Promise((resolve) => io.close(resolve));
    },
  };
}

type StandIn = Awaited<ReturnType<typeof standIn>>;
const running: StandIn[] = [];
let link: CoordinatorLink | undefined;
afterEach(async () => {
  link?.close();
  link = undefined;
  await Promise.all(running.splice(0).map((s) => s.goAway().catch(() => undefined)));
});

async function start(instances: () => string[], port = 0): Promise<StandIn> {
  const s = await standIn(instances, port);
  running.push(s);
  return s;
}

function openLink(urls: string[], seed = toHex(ed.randomSeed()), listRefreshMs?: number) {
  const sessions: Session[] = [];
  const moves: InstanceMove[] = [];
  const events: string[] = [];
  const opened = new CoordinatorLink({
    urls,
    crypto: syncCrypto(ed),
    host: { seed, publicKey: toHex(ed.publicKeyFromSeed(Buffer.from(seed, 'hex'))) },
    platform: { kind: 'node', engine: 'v8' },
    capabilities: { cores: 1 },
    hello: () => ({}),
    trust: () => {},
    failoverMs: 100,
    retryFirstMs: 100,
    returnCheckMs: 200,
    ...(listRefreshMs === undefined ? {} : { listRefreshMs }),
  });
  opened.on('ready', (s) => sessions.push(s));
  opened.on('moved', (m) => moves.push(m));
  opened.on('lost', (why) => events.push(`lost: ${why}`));
  opened.on('fatal', (e) => events.push(`fatal: ${e.message}`));
  link = opened;
  return { link: opened, sessions, moves, events, publicKey: toHex(ed.publicKeyFromSeed(Buffer.from(seed, 'hex'))) };
}

describe('a link over several coordinator instances', () => {
  it('connects to its first choice from the document, fails over when it dies, and moves back between calls once it is ready', async () => {
    const urls: string[] = [];
    const a = await start(() => urls);
    const b = await start(() => urls);
    urls.push(a.url, b.url);
    const seed = toHex(ed.randomSeed());
    const key = toHex(ed.publicKeyFromSeed(Buffer.from(seed, 'hex')));
    const [firstUrl, secondUrl] = instanceOrder(key, urls) as [string, string];
    const [first, second] = firstUrl === a.url ? [a, b] : [b, a];

    // Given only its second choice: it reads that one's document and goes to its first.
    const l = openLink([secondUrl], seed);
    await waitFor(() => l.sessions.length === 1);
    expect(l.sessions[0]!.url).toBe(firstUrl);
    expect(l.link.instances).toEqual([firstUrl, secondUrl]);
    expect(l.link.rank).toBe(1);

    await first.goAway();
    await waitFor(() => l.sessions.length === 2);
    expect(l.sessions[1]!.url).toBe(secondUrl);
    expect(l.moves).toEqual([{ kind: 'failover', from: firstUrl, to: secondUrl, reason: 'the connection closed (the coordinator stopped, or the network failed)' }]);
    expect(l.link.rank).toBe(2);

    // A call waits for its answer on the second when the first comes back: the link stays.
    const slow = l.link.call('slow', {});
    const back = await start(() => urls, first.port);
    await waitFor(() => back.readyChecks >= 1); // it looked, and found the first ready…
    await new Promise((r) => setTimeout(r, 500)); // …and waits for the call, however long it takes
    expect(l.link.url).toBe(secondUrl);
    expect(l.sessions).toHaveLength(2);
    second.answerHeld();
    await slow;
    await waitFor(() => l.sessions.length === 3);
    expect(l.sessions[2]!.url).toBe(firstUrl);
    expect(l.moves[1]).toEqual({ kind: 'return', from: secondUrl, to: firstUrl, reason: 'its first-choice instance is ready again' });
    expect(l.events.filter((e) => e.startsWith('fatal'))).toEqual([]);
    expect(back.url).toBe(firstUrl);
  });

  it('with every instance down, tries each in turn, then backs off and starts again from its first choice', async () => {
    const urls: string[] = [];
    const a = await start(() => urls);
    const b = await start(() => urls);
    urls.push(a.url, b.url);
    const l = openLink([a.url, b.url]);
    await waitFor(() => l.sessions.length === 1);
    const [firstUrl, secondUrl] = l.link.instances as [string, string];
    const problems: { next: string; attempts: number }[] = [];
    l.link.on('retrying', (p) => problems.push({ next: p.next, attempts: p.attempts }));
    await Promise.all([a.goAway(), b.goAway()]);
    // Lost the first: the second next; it refuses: a round is over, and the first is next again.
    await waitFor(() => problems.length >= 2);
    expect(problems.slice(0, 2)).toEqual([
      { next: secondUrl, attempts: 1 },
      { next: firstUrl, attempts: 2 },
    ]);
    const port = Number(new URL(secondUrl).port);
    await start(() => urls, port);
    await waitFor(() => l.sessions.length === 2, 15_000);
    expect(l.sessions[1]!.url).toBe(secondUrl);
  });

  it('reads the list again while connected, and moves to an instance added to it that it ranks first', async () => {
    const listed: string[] = [];
    const a = await start(() => listed);
    const b = await start(() => listed);
    const seed = toHex(ed.randomSeed());
    const [firstUrl, secondUrl] = instanceOrder(toHex(ed.publicKeyFromSeed(Buffer.from(seed, 'hex'))), [a.url, b.url]) as [string, string];
    listed.push(secondUrl); // its first choice is not there yet
    const l = openLink([secondUrl], seed, 200);
    await waitFor(() => l.sessions.length === 1);
    expect(l.sessions[0]!.url).toBe(secondUrl);
    listed.push(firstUrl);
    await waitFor(() => l.sessions.length === 2);
    expect(l.sessions[1]!.url).toBe(firstUrl);
    expect(l.moves).toEqual([{ kind: 'return', from: secondUrl, to: firstUrl, reason: 'its first-choice instance is ready again' }]);
  });

  it('without a list, uses the URLs it was given, ranked by its key', async () => {
    const a = await start(() => []);
    const b = await start(() => []);
    // Their documents list no instances (a single coordinator's): the two given are the order.
    const l = openLink([a.url, b.url]);
    await waitFor(() => l.sessions.length === 1);
    expect(l.link.instances).toEqual(instanceOrder(l.publicKey, [a.url, b.url]));
    expect(l.sessions[0]!.url).toBe(l.link.instances[0]);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
