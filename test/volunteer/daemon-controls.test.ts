// The daemon as its owner sees it: a wrong --url says what is wrong and when it tries again
// (log lines, the companion's status, the live display in a real terminal); the companion
// (`volunteer-grid-volunteer status | pause | …`) controls the running daemon over a socket only
// the owner can open; Ctrl-C says what it waits for; counters survive a restart; the compute
// hours and the config file are obeyed; the task list says what came of each task (a result
// outvoted is invalid). Real daemons as child processes, a real coordinator.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Server as IoServer } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/catalog.js';
import type { CreditInfo, Status, TaskInfo } from '../../volunteer-node/control-protocol.js';
import { submitInputs } from '../helpers/batches.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { skipTerminalTests, Terminal } from '../helpers/terminal.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { companionJson, runCompanion, VolunteerProcess } from '../helpers/volunteer-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let coordinator: TestCoordinator | undefined;
let daemons: VolunteerProcess[] = [];
let terminals: Terminal[] = [];
const servers: (() => Promise<void>)[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const t of terminals.splice(0)) t.close();
  await Promise.all(daemons.map((d) => d.kill9()));
  daemons = [];
  for (const close of servers.splice(0)) await close();
  await coordinator?.dispose();
  coordinator = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const tempDir = (prefix = 'vg-ctl-') => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

function startDaemon(url: string, args: string[] = [], dataDir = tempDir()): VolunteerProcess {
  const d = VolunteerProcess.start(url, dataDir, args);
  daemons.push(d);
  return d;
}

/** The daemon in a real terminal, with its live display. */
function startInTerminal(url: string, dataDir: string, args: string[], cols = 100, env?: Record<string, string>): Terminal {
  const t = Terminal.start(
    [process.execPath, '--import', 'tsx', join(ROOT, 'volunteer-node', 'main.ts'), '--url', url, '--data-dir', dataDir, '--threads', '2', ...args],
    { cols, rows: 30, cwd: ROOT, ...(env ? { env } : {}) },
  );
  terminals.push(t);
  return t;
}

async function listen(http: HttpServer): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  servers.push(() => new Promise((resolve) => http.close(() => resolve())));
  return (http.address() as AddressInfo).port;
}

/** A loopback port where nothing listens (it did a moment ago). */
async function closedPort(): Promise<number> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  await new Promise((resolve) => http.close(resolve));
  return port;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

async function addPrimes(c: TestCoordinator, projectName = 'examples'): Promise<number> {
  const projectId = await c.apps.createProject({ name: projectName });
  const app = await c.apps.createApp(projectId, { name: 'primes' });
  await c.apps.addVersion(app.id, { files: await EXAMPLES.primes.files(), requirements: EXAMPLES.primes.requirements });
  return app.id;
}

const once = { minQuorum: 1, targetNresults: 1 };

function inProgress(c: TestCoordinator): number {
  const db = new Database(join(c.dataDir, 'coordinator.sqlite'), { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE status = 'in_progress'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Work units done of a project's batches. */
function doneOf(c: TestCoordinator, project: string): number {
  const db = new Database(join(c.dataDir, 'coordinator.sqlite'), { readonly: true });
  try {
    return (
      db
        .prepare("SELECT COUNT(*) AS n FROM workunits w JOIN apps a ON a.id = w.app_id JOIN projects p ON p.id = a.project_id WHERE p.name = ? AND w.status = 'done'")
        .get(project) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

/** Local hours that exclude now: from two hours ahead to three hours ahead. */
function hoursNotNow(): string {
  const h = (new Date().getHours() + 2) % 24;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(h)}:00-${pad((h + 1) % 24)}:00`;
}

describe('a wrong --url', () => {
  it('says what is wrong and when it tries again: refused, not a coordinator, TLS, no /volunteer namespace', async () => {
    const refused = await closedPort();
    const web = createServer((_req, res) => res.writeHead(404).end('not here'));
    const webPort = await listen(web);
    const io = new IoServer(createServer());
    const ioHttp = (io as unknown as { httpServer: HttpServer }).httpServer;
    const ioPort = await listen(ioHttp);
    servers.push(() => new Promise((resolve) => io.close(() => resolve())));

    const cases = [
      { url: `http://127.0.0.1:${refused}`, problem: /^nothing answers at 127\.0\.0\.1:\d+ \(connection refused\); is the coordinator running there\?$/ },
      { url: `http://127.0.0.1:${webPort}`, problem: /answers, but is not a volunteer-grid coordinator \(HTTP 404 where its WebSocket should be\); check the URL/ },
      { url: `https://127.0.0.1:${webPort}`, problem: /^TLS failed: 127\.0\.0\.1:\d+ does not speak TLS; use http:\/\/ instead of https:\/\/\?$/ },
      { url: `http://127.0.0.1:${ioPort}`, problem: /speaks Socket\.IO, but is not a volunteer-grid coordinator \(it has no \/volunteer namespace\)/ },
    ];
    const ds = cases.map((c) => startDaemon(c.url));
    for (const [i, d] of ds.entries()) {
      const line = await d.waitForLog('cannot connect to the coordinator; retrying');
      expect(line.level).toBe('warn');
      expect(line.problem).toMatch(cases[i]!.problem);
      expect(line.retryInSeconds).toEqual(expect.any(Number));
      // It does try again, and says so (as information: the problem is the same).
      await d.waitForLog('still cannot connect to the coordinator; retrying', (l) => l.problem === line.problem);
      // The companion tells the same, with the next try.
      const { status } = await companionJson<{ status: Status }>(d.dataDir, 'status');
      expect(status.connection).toMatchObject({ state: 'connecting', problem: line.problem, retryInMs: expect.any(Number) });
      expect(status.idle).toMatch(/^not connected to the coordinator; next try in \d+ s$/);
      expect(d.logged('connected')).toEqual([]);
    }
    expect(await Promise.all(ds.map((d) => d.stop()))).toEqual([0, 0, 0, 0]);
  }, 180_000);

  it.skipIf(skipTerminalTests('daemon live display'))('shows it in the live display, each line within the terminal, and Ctrl-C says it is stopping', async () => {
    const port = await closedPort();
    // 70 columns: the problem line is longer, and would wrap if it were not cut.
    const term = startInTerminal(`http://127.0.0.1:${port}`, tempDir(), [], 70);
    const rows = await term.waitForScreen('the connection problem', (r) => r.some((l) => l.startsWith('  cannot connect: nothing answers at 127.0.0.1')));
    // A warning printed above the live lines, in words, not JSON.
    expect(rows.join('')).toMatch(/\d\d:\d\d:\d\d warn  cannot connect to the coordinator; retrying: problem=nothing answers at 127\.0\.0\.1/);
    // Several redraws later, the live block is there once, whole: no line wrapped, none left behind.
    await new Promise((r) => setTimeout(r, 2_000));
    const later = term.screen();
    expect(later.filter((l) => l.startsWith('○ not connected')).length).toBe(1);
    expect(later.filter((l) => l.startsWith('  cannot connect:')).length).toBe(1);
    for (const l of later) expect([...l].length).toBeLessThanOrEqual(70);
    expect(later.filter((l) => /^ {2}\[[12]\] idle: not connected to the coordinator; next try in \d+ s$/.test(l)).length).toBe(2);

    term.keys('C-c');
    const stopped = await term.waitForScreen('the stop', (r) => r.some((l) => l.includes('stopping: handing back 0')));
    expect(stopped.filter((l) => l.startsWith('○ not connected')).length).toBe(1);
    await waitFor('the daemon to exit', () => term.exited(), 20_000);
  }, 180_000);
  it.skipIf(skipTerminalTests('daemon live display'))("prints Node's own warnings above the live lines, in words, not through them", async () => {
    const web = createServer((_req, res) => res.writeHead(404).end());
    const port = await listen(web);
    // Node warns of this setting at the first TLS connection, on stderr unless the daemon takes it.
    const term = startInTerminal(`https://127.0.0.1:${port}`, tempDir(), [], 140, { NODE_TLS_REJECT_UNAUTHORIZED: '0' });
    const rows = await term.waitForScreen('the TLS problem', (r) => r.some((l) => l.startsWith('  cannot connect: TLS failed: 127.0.0.1')));
    const text = rows.join('\n');
    expect(text).toMatch(/\d\d:\d\d:\d\d warn  node warning: name=Warning, warning=Setting the NODE_TLS_REJECT_UNAUTHORIZED/);
    // The warning sits above the live block, which is there once and whole.
    const warningAt = rows.findIndex((l) => l.includes('node warning'));
    const blockAt = rows.findIndex((l) => l.startsWith('○ not connected'));
    expect(warningAt).toBeGreaterThanOrEqual(0);
    expect(blockAt).toBeGreaterThan(warningAt);
    expect(rows.filter((l) => l.startsWith('○ not connected')).length).toBe(1);
    expect(rows.slice(blockAt)).toEqual([
      expect.stringMatching(/^○ not connected  done 0/),
      expect.stringMatching(/^ {2}cannot connect: TLS failed: 127\.0\.0\.1:\d+ does not speak TLS; use http:\/\/ instead of https:\/\/\?; next try in \d+ s$/),
      expect.stringMatching(/^ {2}\[1\] idle: not connected to the coordinator; next try in \d+ s$/),
      expect.stringMatching(/^ {2}\[2\] idle: not connected to the coordinator; next try in \d+ s$/),
    ]);
  }, 120_000);
});

describe('the companion', () => {
  it('shows status, tasks and credit; pauses, resumes and stops new tasks; counters survive a restart', async () => {
    coordinator = await startTestCoordinator();
    const appId = await addPrimes(coordinator);
    // A long task (many seconds of trial division, checkpointed every 10,000 numbers), then a short one.
    await submitInputs(coordinator, appId, [{ from: 30_000_000, to: 40_000_000 }, { from: 1, to: 1000 }], once);
    const dataDir = tempDir();
    const d = startDaemon(coordinator.url, ['--prefetch', '0'], dataDir);
    await d.waitForLog('task started');

    let status = (await companionJson<{ status: Status }>(dataDir, 'status')).status;
    expect(status).toMatchObject({ url: coordinator.url, connection: { state: 'connected' }, paused: [], running: 1, threads: 1, noNewTasks: false });

    // Paused once it has a checkpoint: the task stops, and later resumes from it.
    await waitFor('a checkpoint', () => readdirSync(join(dataDir, 'journal', 'checkpoints')).some((f) => f.endsWith('.json')), 30_000);
    const paused = await d.companion('pause');
    expect(paused.stdout).toMatch(/^Paused\.\n\n.*\ncomputing +no: paused by its owner \(volunteer-grid-volunteer resume\)/s);
    await waitFor('the task suspended', () => d.logged('paused').length === 1);
    const tasks = (await companionJson<{ tasks: TaskInfo[] }>(dataDir, 'tasks')).tasks;
    expect(tasks).toEqual([expect.objectContaining({ project: 'examples', app: 'primes', state: 'queued', checkpointed: true })]);
    expect((await d.companion('tasks')).stdout).toMatch(/^TASK +PROJECT\/APP +STATE +DONE +CHECKPOINT\n\d+ +examples\/primes +queued +\d+% +yes\n$/);
    status = (await companionJson<{ status: Status }>(dataDir, 'status')).status;
    expect(status).toMatchObject({ running: 0, idle: 'paused by its owner (volunteer-grid-volunteer resume)' });

    // No new tasks: the held one finishes after the resume, and nothing more is asked for.
    status = (await companionJson<{ status: Status }>(dataDir, 'no-new-tasks')).status;
    expect(status.noNewTasks).toBe(true);
    await d.companion('resume');
    await d.waitForLog('task resumed from its checkpoint');
    await d.waitForLog('task finished', undefined, 120_000);
    await expect.poll(async () => (await companionJson<{ status: Status }>(dataDir, 'status')).status.idle, { timeout: 10_000 }).toBe(
      'no new tasks (volunteer-grid-volunteer allow-new-tasks)',
    );
    expect(d.logged('task started').length).toBe(1);

    await d.companion('allow-new-tasks');
    await waitFor('the second task', () => d.logged('task started').length === 2, 30_000);
    await waitFor('both done', () => d.logged('task finished').length === 2, 60_000);

    // Credit, from the signed receipts the daemon keeps: today's line holds it all.
    await expect.poll(async () => (await companionJson<{ credit: CreditInfo }>(dataDir, 'credit')).credit.receipts, { timeout: 20_000 }).toBe(2);
    const credit = (await companionJson<{ credit: CreditInfo }>(dataDir, 'credit')).credit;
    expect(credit.total).toBeGreaterThan(0);
    expect(credit.days).toHaveLength(7);
    expect(credit.days.at(-1)).toEqual({ day: new Date().toISOString().slice(0, 10), credit: credit.total });
    expect((await d.companion('credit')).stdout).toMatch(/^Credit \d+\.\d\d from 2 signed receipts, the last /);

    // Counters and controls survive a restart.
    await d.companion('no-new-tasks', 'examples');
    expect(await d.stop()).toBe(0);
    expect(JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8'))).toMatchObject({ done: 2, errors: 0, paused: false, noNewTasks: false, noNewTasksProjects: ['examples'] });
    const again = startDaemon(coordinator.url, [], dataDir);
    await again.waitForLog('connected');
    status = (await companionJson<{ status: Status }>(dataDir, 'status')).status;
    expect(status).toMatchObject({ done: 2, errors: 0, noNewTasksProjects: ['examples'] });
    expect(await again.stop()).toBe(0);
    // No daemon: the companion says so, and exits 1.
    const none = await runCompanion(dataDir, 'status');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no volunteer is running with the data dir .* \((no control\.sock there|its socket is left over)\)/);
  }, 300_000);

  it('lists what came of the tasks it finished: a result two other volunteers outvoted is invalid, told while it runs or asked for once it starts again', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const appId = await addPrimes(c);
    // Three replicas of each work unit at once; two that agree decide.
    await submitInputs(c, appId, [{ from: 1, to: 1000 }, { from: 1000, to: 2000 }], { minQuorum: 2, targetNresults: 3, maxErrorResults: 1, maxTotalResults: 3, maxSuccessResults: 3 });
    const dataDir = tempDir();
    const listed = async () => (await companionJson<{ tasks: TaskInfo[] }>(dataDir, 'tasks')).tasks;
    const stateOf = async (taskId: number) => (await listed()).find((t) => t.taskId === taskId)?.state;
    const d = startDaemon(coordinator.url, ['--prefetch', '0'], dataDir);
    await expect.poll(async () => (await listed()).filter((t) => t.state === 'pending').length, { timeout: 60_000 }).toBe(2);
    const mine = new Map(await Promise.all((await listed()).map(async (t) => [await workunitOfTask(c, t), t.taskId] as const)));
    expect((await d.companion('tasks')).stdout).toMatch(/^TASK +PROJECT\/APP +STATE +DONE +CHECKPOINT\n(\d+ +examples\/primes +pending validation +100% +-\n){2}$/);

    // Two other volunteers agree on another answer, one work unit while the daemon runs…
    const others = [await TestVolunteer.connect(c.url, { behaviour: 'colluder' }), await TestVolunteer.connect(c.url, { behaviour: 'colluder' })];
    try {
      const theirs = await Promise.all(others.map(async (v) => new Map(await Promise.all((await v.requestTasks(2)).map(async (t) => [await workunitOfTask(c, t), t] as const)))));
      const [first, second] = [...mine.keys()];
      const decide = async (wu: number) => {
        for (const [i, v] of others.entries()) expect((await v.report([await v.compute(theirs[i]!.get(wu)!)]))[0]!.status).toBe('accepted');
      };
      await decide(first!);
      await d.waitForLog('result marked invalid: other volunteers agreed on a different result', (l) => l.taskId === mine.get(first!));
      expect(await stateOf(mine.get(first!)!)).toBe('invalid');
      expect(await stateOf(mine.get(second!)!)).toBe('pending');
      expect((await d.companion('tasks')).stdout).toMatch(new RegExp(`^${mine.get(first!)} +examples/primes +invalid: other volunteers agreed on another result +100% +-$`, 'm'));

      // …and the other while it is stopped: started again, it asks, and is told.
      expect(await d.stop()).toBe(0);
      await decide(second!);
      const again = startDaemon(coordinator.url, ['--prefetch', '0'], dataDir);
      await again.waitForLog('result marked invalid: other volunteers agreed on a different result', (l) => l.taskId === mine.get(second!));
      expect((await listed()).map((t) => t.state)).toEqual(['invalid', 'invalid']);
      expect(await again.stop()).toBe(0);
    } finally {
      for (const v of others) v.close();
    }
  }, 180_000);

  it('talks only through a socket only the owner can open, refuses bad requests, and one data dir has one daemon', async () => {
    const port = await closedPort();
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755); // as an older version, or a careless mkdir, left it
    const d = startDaemon(`http://127.0.0.1:${port}`, [], dataDir);
    await d.waitForLog('volunteer starting');
    expect(d.logged('the data dir was open to other users; made it private')[0]).toMatchObject({ was: '755', now: '700' });
    const socket = join(dataDir, 'control.sock');
    expect([mode(dataDir), mode(socket)]).toEqual(['700', '600']);
    expect((await d.companion('status')).code).toBe(0);

    chmodSync(dataDir, 0o750);
    let r = await d.companion('status');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to talk to a volunteer through it: the data dir .* can be opened by other users \(mode 750\); chmod go-rwx/);
    chmodSync(dataDir, 0o700);
    chmodSync(socket, 0o660);
    r = await d.companion('pause');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to use it: the control socket .* can be opened by other users \(mode 660\)/);
    chmodSync(socket, 0o600);
    expect((await companionJson<{ status: Status }>(dataDir, 'status')).status.paused).toEqual([]); // refused: nothing changed

    // Requests are checked at the socket: a bad one gets a clear error and changes nothing.
    const raw = (line: string) =>
      new Promise<unknown>((resolve, reject) => {
        const s = connect(socket);
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString()));
        s.on('end', () => resolve(JSON.parse(got)));
        s.on('error', reject);
        s.write(`${line}\n`);
      });
    expect(await raw('{"cmd":"format-disk"}')).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/cmd/) } });
    expect(await raw('{"cmd":"pause","now":true}')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await raw('not json')).toEqual({ ok: false, error: { code: 'bad_request', message: 'the request is not JSON' } });
    expect((await companionJson<{ status: Status }>(dataDir, 'status')).status.paused).toEqual([]);

    // Usage errors are the companion's own.
    r = await d.companion('pause', 'everything');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pause: unexpected everything/);

    // A second daemon on the same data dir would share its journal: it refuses to start.
    const second = startDaemon(`http://127.0.0.1:${port}`, [], dataDir);
    expect(await second.exited).toBe(1);
    expect(second.output.join('')).toMatch(/volunteer failed to start: another volunteer is running with the data dir/);
    expect(second.logged('volunteer starting')).toEqual([]); // refused before it connected or read the journal
    expect((await d.companion('status')).code).toBe(0);
    expect(await d.stop()).toBe(0);
    expect(existsSync(socket)).toBe(false);
  }, 180_000);
});

describe('preferences and schedule', () => {
  it('computes only in its compute hours, from the config file or the flag; a bad config stops it with a clear message', async () => {
    coordinator = await startTestCoordinator();
    await submitInputs(coordinator, await addPrimes(coordinator), [{ from: 1, to: 1000 }], once);
    const dataDir = tempDir();
    const hours = hoursNotNow();
    writeFileSync(join(dataDir, 'volunteer.json'), JSON.stringify({ computeHours: hours, projects: [{ project: 'examples', share: 300 }] }));
    const d = startDaemon(coordinator.url, [], dataDir);
    await d.waitForLog('connected');
    const status = (await companionJson<{ status: Status }>(dataDir, 'status')).status;
    expect(status.schedule).toBe(hours.replace('-', '–'));
    expect(status.paused).toEqual([expect.stringMatching(/^outside its compute hours \(\d\d:00–\d\d:00\); computes again at \d\d:00$/)]);
    expect(status.idle).toBe(status.paused[0]);
    expect([status.running, status.queued, inProgress(coordinator)]).toEqual([0, 0, 0]);
    expect(await d.stop()).toBe(0);

    // The flag overrides the file: all day, so it computes.
    const allDay = startDaemon(coordinator.url, ['--compute-hours', '00:00-24:00'], dataDir);
    await allDay.waitForLog('task finished', undefined, 30_000);
    expect(await allDay.stop()).toBe(0);

    for (const [config, message] of [
      [{ computeHours: '25:00-07:00' }, /volunteer\.json:\n✖ "25:00-07:00" has a time that is not on a clock\n +→ at computeHours/],
      [{ projects: [{ project: 'x', share: 5000 }] }, /projects\[0\]\.share/],
      [{ colour: 'blue' }, /Unrecognized key.*colour/s],
    ] as const) {
      writeFileSync(join(dataDir, 'volunteer.json'), JSON.stringify(config));
      const bad = startDaemon(coordinator.url, [], dataDir);
      expect(await bad.exited).toBe(2);
      expect(bad.output.join('')).toMatch(message);
    }
    rmSync(join(dataDir, 'volunteer.json'));
    const badFlag = startDaemon(coordinator.url, ['--project-shares', 'examples=lots'], dataDir);
    expect(await badFlag.exited).toBe(2);
    expect(badFlag.output.join('')).toMatch(/--project-shares: "examples=lots" is not PROJECT=SHARE/);
  }, 180_000);

  it.skipIf(skipTerminalTests('daemon live display'))('Ctrl-C in the live display says what it finishes and hands back', async () => {
    coordinator = await startTestCoordinator();
    await submitInputs(coordinator, await addPrimes(coordinator), [{ from: 30_000_000, to: 36_000_000 }, { from: 36_000_000, to: 42_000_000 }], once);
    const dataDir = tempDir();
    mkdirSync(dataDir, { recursive: true });
    const term = startInTerminal(coordinator.url, dataDir, ['--threads', '1', '--prefetch', '1', '--grace-seconds', '3']);
    await term.waitForScreen('a running task', (r) => r.some((l) => /^ {2}\[1\] [█░]{24} +\d+% {2}examples\/primes {2}task \d+$/.test(l)), 30_000);
    term.keys('C-c');
    const rows = await term.waitForScreen('the stop', (r) => r.some((l) => /^ {2}stopping: finishing 1 task \(up to [1-3] s\), handing back 1$/.test(l)));
    expect(rows.filter((l) => l.startsWith('● connected')).length).toBe(1);
    await waitFor('the daemon to exit', () => term.exited(), 30_000);
    expect(term.screen().some((l) => /^ {2}stopping: handing back [12]$/.test(l))).toBe(true);
  }, 180_000);
});

describe('project preferences reach the coordinator', () => {
  it('asks only for the listed projects, and for none the companion said no new tasks of', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const alpha = await addPrimes(c, 'alpha');
    const beta = await addPrimes(c, 'beta');
    const small = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ from: from + i * 1000, to: from + (i + 1) * 1000 }));
    await submitInputs(c, alpha, small(3, 0), once);
    await submitInputs(c, beta, small(3, 0), once);
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'volunteer.json'), JSON.stringify({ projects: [{ project: 'beta', share: 200 }], onlyListed: true }));
    const d = startDaemon(c.url, [], dataDir);
    await waitFor("beta's three tasks", () => d.logged('task finished').length === 3, 60_000);
    await expect.poll(async () => (await companionJson<{ status: Status }>(dataDir, 'status')).status.idle, { timeout: 20_000 }).toMatch(
      /^no work for this host from the listed projects now; asks again in \d+ s$/,
    );
    expect(new Set(d.logged('task started').map((l) => l.project))).toEqual(new Set(['beta']));
    expect(doneOf(c, 'alpha')).toBe(0);
    expect((await d.companion('status')).stdout).toMatch(/\nprojects +beta \(share 200\); only these\n/);

    // No new tasks of alpha, said with the companion (and kept), then the config's list goes:
    // new beta work comes, alpha's still does not.
    await d.companion('pause');
    await d.companion('no-new-tasks', 'alpha');
    expect(await d.stop()).toBe(0);
    rmSync(join(dataDir, 'volunteer.json'));
    await submitInputs(c, beta, small(2, 100_000), once);
    const again = startDaemon(c.url, [], dataDir);
    await again.waitForLog('connected');
    expect((await again.companion('resume')).code).toBe(0);
    await waitFor('the new beta tasks', () => again.logged('task finished').length === 2, 60_000);
    await expect.poll(async () => (await companionJson<{ status: Status }>(dataDir, 'status')).status.idle, { timeout: 20_000 }).toMatch(/^no work for this host now/);
    expect(new Set(again.logged('task started').map((l) => l.project))).toEqual(new Set(['beta']));
    expect(doneOf(c, 'alpha')).toBe(0);
    expect((await companionJson<{ status: Status }>(dataDir, 'status')).status.preferences).toEqual({ projects: [{ project: 'alpha', noNewTasks: true }] });

    // Allowed again: alpha's work comes.
    await again.companion('allow-new-tasks', 'alpha');
    await waitFor("alpha's tasks", () => doneOf(c, 'alpha') === 3, 60_000);
    expect(await again.stop()).toBe(0);
  }, 240_000);
});

describe('an idle thread says which of its quotas keeps work back', () => {
  it('tasks in flight: the status, its words, and one log line', async () => {
    // A new host may hold one task: the second thread waits, and says why.
    coordinator = await startTestCoordinator({ newHostTasks: 1, newHostShare: 1 });
    await submitInputs(coordinator, await addPrimes(coordinator), [{ from: 30_000_000, to: 36_000_000 }, { from: 36_000_000, to: 42_000_000 }], once);
    const dataDir = tempDir();
    const d = startDaemon(coordinator.url, ['--threads', '2', '--prefetch', '0'], dataDir);
    await d.waitForLog('task started');
    const words = 'quota: holds 1 of 1 tasks it may have in flight; more as results are validated';
    await expect.poll(async () => (await companionJson<{ status: Status }>(dataDir, 'status')).status.idle, { timeout: 20_000 }).toMatch(
      new RegExp(`^${words.replace(/[.;]/g, '\\$&')}; asks again in \\d+ s$`),
    );
    expect((await d.companion('status')).stdout).toContain(`threads       2: 1 running; idle: ${words}`);
    await d.waitForLog('quota reached');
    expect(d.logged('quota reached')).toEqual([expect.objectContaining({ reason: words })]);
  }, 120_000);

  it.skipIf(skipTerminalTests('daemon live display'))('tasks in flight: the live display says it on the idle thread’s line', async () => {
    coordinator = await startTestCoordinator({ newHostTasks: 1, newHostShare: 1 });
    await submitInputs(coordinator, await addPrimes(coordinator), [{ from: 30_000_000, to: 36_000_000 }, { from: 36_000_000, to: 42_000_000 }], once);
    const term = startInTerminal(coordinator.url, tempDir(), ['--prefetch', '0'], 160);
    await term.waitForScreen('the quota on the idle thread', (r) =>
      r.some((l) => /^ {2}\[[12]\] idle: quota: holds 1 of 1 tasks it may have in flight; more as results are validated; asks again in \d+ s$/.test(l)), 30_000);
  }, 120_000);
});
