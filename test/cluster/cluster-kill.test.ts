// The cluster test (issue 17; docs/architecture.md, "Next stages" 4): three coordinator processes
// on one PostgreSQL server of the test's own and one Redis, volunteers spread over them (real
// daemons given every URL, which pick theirs by rendezvous hashing, and logging hosts that
// record every acknowledgement), a batch of thousands of work units at quorum 2. Mid-batch, one
// instance is killed with SIGKILL three times (and restarted each time), then the PostgreSQL
// server is restarted once (a fast shutdown or a crash, by the seed). After each, what can be
// checked while the others write is checked on one snapshot; at the end all of it: every
// acknowledged result present, no work unit finished twice, one ledger entry per valid replica,
// totals equal the ledger, the chain verifies, counters equal a recount, the batch complete with
// the right outputs, and the killed instance's volunteers at work elsewhere. Researchers' clients
// follow the batch throughout: `volunteer-grid wait` on an instance never killed and on the one
// killed first, and live watchers (the CLI's own batch-watch) started on all three; those on a
// killed instance follow the batch on another.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { otherInstances, watchBatch } from '../../cli/batch-watch.js';
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import type { BatchStatus, Submitted } from '../../protocol/api.js';
import { ApiClient, newResearcher } from '../helpers/api-client.js';
import { counterProblemsIn } from '../helpers/batch-counters.js';
import { startCli, type RunningCli } from '../helpers/cli-process.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { DatabaseReader } from '../helpers/database-reader.js';
import { PostgresServer, postgresServerProblem, skipPostgresServerTests } from '../helpers/postgres-server.js';
import { skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { VolunteerProcess, type LogLine } from '../helpers/volunteer-process.js';
import {
  ackProblems,
  APP_MAIN,
  creditProblems,
  doneSnapshot,
  expectedOutput,
  fetchAndVerifyLedger,
  givenBackProblems,
  receiptProblems,
  snapshotProblems,
  workunitProblems,
} from '../reliability/db-checks.js';
import { HostClient } from '../reliability/host-client.js';
import { seeded } from '../reliability/seeded-random.js';

const SUITE = 'cluster kill';
const skip = skipPostgresServerTests(SUITE, postgresServerProblem()) || (await skipRedisTests(SUITE));

const WORKUNITS = 2_000;
const QUORUM = 2;
const DAEMONS = 3;
/** Logging hosts: two start on each instance. */
const HOSTS = 6;
/** Kills at these shares of the batch done: the first and third on one instance, the second on another. */
const KILL_AT = [0.15, 0.35, 0.55];
const PG_RESTART_AT = 0.72;
/** About three minutes on a quiet machine; ten when others' tests load its two cores many times over. */
const TIMEOUT_MS = 900_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What a volunteer call may answer while an instance or the database is going away: the host tries again. */
const TRANSIENT = /: (internal|unavailable)\b|operation has timed out|not connected|socket has been disconnected|fetch failed|ECONNREFUSED|ECONNRESET/;

describe.skipIf(skip)('three coordinator instances, kill -9 and a PostgreSQL restart mid-batch', () => {
  let server: PostgresServer | undefined;
  let cluster: TestCluster | undefined;
  const daemons: VolunteerProcess[] = [];
  const hosts: HostClient[] = [];
  const clis: RunningCli[] = [];
  const watches: { close(): void }[] = [];
  const dirs: string[] = [];
  let shutDown = false;
  let passed = false;
  /** What the test saw, told when it fails (a timeout included). */
  let diagnostics = (): string => '';
  afterAll(async () => {
    if (!passed) console.log(`[${SUITE}] failed; what it saw:\n${diagnostics()}`);
    shutDown = true;
    hosts.forEach((h) => h.disconnect());
    watches.forEach((w) => w.close());
    clis.forEach((c) => c.kill());
    await Promise.all(daemons.map((d) => d.kill9()));
    await cluster?.close().catch((e: unknown) => console.warn(`[${SUITE}] closing the cluster: ${String(e)}`));
    await server?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  const tempDir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };

  it(`a ${WORKUNITS}-unit batch at quorum ${QUORUM} completes exactly once over ${KILL_AT.length} kill -9s and a PostgreSQL restart`, async () => {
    const started = Date.now();
    const t = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const timeline: string[] = [];
    const note = (s: string) => {
      timeline.push(`${t()}: ${s}`);
      console.log(`[${SUITE}] ${timeline.at(-1)}`);
    };
    const rnd = seeded('cluster-kill');

    server = await PostgresServer.start();
    // No checks of done work units: the counts below are exact (two results a work unit, each credited once).
    cluster = await startCluster(3, ['--check-rate', '0'], { postgresAdminUrl: server.url() });
    const { urls } = cluster;
    const c = cluster;
    note(`PostgreSQL on port ${server.port}, instances ${urls.join(' ')}`);
    const reader = DatabaseReader.postgres(cluster.database.url);
    const coordinatorKey = ((await (await fetch(`${urls[0]}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string }).coordinatorKey;

    // A researcher, a trivial app, and the batch (submitted to the first instance).
    const admin = await ApiClient.withToken(urls[0]!, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const on = (url: string) => ApiClient.bearer(url, ada.token!);
    const project = await ada.post<{ id: number }>('/projects', { name: 'cluster kill' });
    const app = await ada.post<{ id: number }>(`/projects/${project.body.id}/apps`, { name: 'affine' });
    expect(app.status, app.text).toBe(201);
    const version = await ada.upload(`/apps/${app.body.id}/versions`, [{ name: 'main.js', content: APP_MAIN }]);
    expect(version.status, version.text).toBe(201);
    const submitted = await ada.post<Submitted>(`/apps/${app.body.id}/batches`, {
      name: 'cluster kill',
      clientKey: 'cluster-kill',
      replication: { minQuorum: QUORUM, targetNresults: QUORUM },
      workunits: Array.from({ length: WORKUNITS }, (_, x) => ({ input: { x } })),
    });
    expect(submitted.status, submitted.text).toBe(201);
    const batchId = submitted.body.batchId;

    // Real daemons, each given every URL: each picks its instance by its key.
    for (let i = 0; i < DAEMONS; i++) daemons.push(VolunteerProcess.start(urls.join(','), tempDir('vg-ck-daemon-')));
    const hostIdOf = new Map<VolunteerProcess, number>();
    const daemonAt = async (d: VolunteerProcess) => {
      const l = await d.waitForLog('connected', () => true, 60_000);
      hostIdOf.set(d, l.hostId as number);
      return l.instance as string;
    };
    const firstInstance = await Promise.all(daemons.map(daemonAt));
    const daemonsOn = (url: string) => daemons.filter((_, i) => firstInstance[i] === url);
    // The instance never killed has the fewest daemons; the first killed, the most.
    const byDaemons = [...urls].sort((a, b) => daemonsOn(a).length - daemonsOn(b).length || urls.indexOf(a) - urls.indexOf(b));
    const steady = byDaemons[0]!;
    const victimA = byDaemons[2]!;
    const victimB = byDaemons[1]!;
    note(`daemons on ${firstInstance.join(' ')}; never killed: ${steady}; killed first: ${victimA}, then ${victimB}`);

    // The researcher's clients: `wait` on the instance never killed and on the one killed first,
    // and live watchers on every instance.
    const cliEnv = (url: string) => ({ VG_URL: url, VG_TOKEN: ada.token!, VG_CLI_CONFIG: join(tempDir('vg-ck-cli-'), 'cli.json') });
    const waitSteady = startCli(['wait', String(batchId), '--timeout', String(TIMEOUT_MS / 1000)], cliEnv(steady));
    const waitVictim = startCli(['wait', String(batchId), '--timeout', String(TIMEOUT_MS / 1000)], cliEnv(victimA));
    clis.push(waitSteady, waitVictim);
    const pushes = new Map<string, { at: number; done: number }[]>(urls.map((u) => [u, []]));
    const connectionEvents = new Map<string, { at: number; lost: boolean }[]>(urls.map((u) => [u, []]));
    // Watchers by the instance each started on: where it is now, and its moves.
    const watcherOn = new Map(urls.map((u) => [u, u]));
    const watcherMoves = new Map<string, { at: number; from: string; to: string }[]>(urls.map((u) => [u, []]));
    const watchFailures: string[] = [];
    for (const url of urls) {
      watches.push(
        watchBatch(
          url,
          ada.token!,
          batchId,
          {
            status: (s) => pushes.get(url)!.push({ at: Date.now(), done: s.workunits.done }),
            connection: (lost) => connectionEvents.get(url)!.push({ at: Date.now(), lost }),
            failed: (e) => watchFailures.push(`${url}: ${e.message}`),
            moved: (from, to) => {
              watcherOn.set(url, to);
              watcherMoves.get(url)!.push({ at: Date.now(), from, to });
            },
          },
          await otherInstances(url),
        ),
      );
    }

    let finished = false;
    // Which instances answer /readyz, looked at every half second.
    const ready = new Set(urls);
    const readiness = (async () => {
      while (!finished && !shutDown) {
        await Promise.all(
          urls.map(async (u) => {
            const ok = await fetch(`${u}/readyz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
            if (ok) ready.add(u);
            else ready.delete(u);
          }),
        );
        await sleep(500);
      }
    })();

    // Logging hosts: two start on each instance; when theirs is gone they go to the next one in
    // their order, and back to their own once it answers /readyz again (as daemons do, sooner).
    const accountKey = async (name: string, team: string) => {
      const r = await fetch(`${urls[0]}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, team }) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { accountKey: string }).accountKey;
    };
    const appDir = tempDir('vg-ck-apps-');
    for (let i = 0; i < HOSTS; i++) hosts.push(new HostClient({ name: `host-${i}`, accountKey: await accountKey(`vol-${i}`, i % 2 === 0 ? 'red' : 'blue'), appDir }));
    const homeOf = (i: number) => urls[i % urls.length]!;
    const hostAt = new Map<HostClient, { url: string; since: number }[]>(hosts.map((h) => [h, []]));
    const failures: unknown[] = [];
    const transient: string[] = [];
    const stop = () => finished || shutDown || failures.length > 0;
    const supervise = async (h: HostClient, i: number) => {
      const order = [homeOf(i), ...urls.filter((u) => u !== homeOf(i))];
      const away = () => h.connected && hostAt.get(h)!.at(-1)?.url !== order[0] && ready.has(order[0]!);
      let k = 0;
      while (!stop()) {
        if (away()) h.disconnect();
        if (!h.connected) {
          const url = order[k % order.length]!;
          try {
            await h.connect(url);
            hostAt.get(h)!.push({ url, since: Date.now() });
            k = 0;
          } catch (e) {
            if (/changed/.test(String(e))) throw e;
            k++;
            await sleep(k % order.length === 0 ? 200 : 20);
            continue;
          }
        }
        try {
          await h.work({ stop: () => stop() || away(), batch: 8, random: () => rnd.next(), giveBackRate: 0.05 });
        } catch (e) {
          if (!TRANSIENT.test(String(e))) throw e;
          transient.push(`${h.opts.name}: ${String(e)}`);
          await sleep(200);
        }
      }
      h.disconnect();
    };
    const working = hosts.map((h, i) => supervise(h, i).catch((e: unknown) => void failures.push(e)));

    // Progress as the researcher sees it on the instance never killed.
    let done = 0;
    const samples: { at: number; done: number }[] = [];
    const poller = (async () => {
      while (!finished && !shutDown) {
        try {
          const s = await on(steady).get<BatchStatus>(`/batches/${batchId}`);
          if (s.status === 200) {
            done = s.body.workunits.done;
            samples.push({ at: Date.now(), done });
            if (s.body.status === 'done') finished = true;
          }
        } catch {
          // busy; again
        }
        await sleep(500);
      }
    })();
    const sec = (at: number) => `${((at - started) / 1000).toFixed(1)} s`;
    /** The three longest gaps between times, longest first, as [from, to]. */
    const longestGaps = (ats: number[]) =>
      ats
        .slice(1)
        .map((a, i) => [ats[i]!, a] as const)
        .sort((x, y) => y[1] - y[0] - (x[1] - x[0]))
        .slice(0, 3);
    diagnostics = () => {
      const lines = (text: string[], n: number) => text.join('').split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(-n);
      const every5 = samples.filter((x, i) => i === 0 || Math.floor((x.at - started) / 5000) !== Math.floor((samples[i - 1]!.at - started) / 5000));
      return [
        `timeline:\n  ${timeline.join('\n  ')}`,
        `done by time: ${every5.map((x) => `${((x.at - started) / 1000).toFixed(0)} s ${x.done}`).join(', ')}`,
        `logging hosts: ${hosts.map((h) => `${h.opts.name} host ${h.hostId} on ${hostAt.get(h)!.at(-1)?.url} (${h.connected ? 'connected' : 'not connected'}), ${h.acks.length} acks, held ${h.held.length}, pending ${h.pending.length}`).join('; ')}`,
        `calls to try again (${transient.length}): ${transient.slice(-10).join('; ')}`,
        ...daemons.map((d, i) => `daemon ${i} (host ${hostIdOf.get(d)}), last lines:\n  ${d.lines.filter((l) => l.level !== 'info' || /connect|fail|moving/.test(l.msg)).slice(-12).map((l) => JSON.stringify(l).slice(0, 300)).join('\n  ')}`),
        ...c.instances.map((p, i) => `instance ${urls[i]} (${p.child.exitCode === null && p.child.signalCode === null ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`}), its last warnings:\n  ${lines(p.output, 15).map((l) => l.slice(0, 400)).join('\n  ')}`),
        ...[waitSteady, waitVictim].map((w, i) => `wait ${i === 0 ? 'on the instance never killed' : 'on the instance killed first'}, last lines:\n  ${w.lines.slice(-6).map((l) => `${((l.at - started) / 1000).toFixed(1)} s ${l.line}`).join('\n  ')}`),
        `pushes: ${urls.map((u) => `${u}: ${pushes.get(u)!.length}, last at ${sec(pushes.get(u)!.at(-1)?.at ?? started)} with ${pushes.get(u)!.at(-1)?.done}`).join('; ')}`,
        `longest gaps between pushes: ${urls.map((u) => `${u}: ${longestGaps(pushes.get(u)!.map((p) => p.at)).map(([from, to]) => `${sec(from)}–${sec(to)}`).join(', ')}`).join('; ')}`,
        `watchers' moves: ${urls.map((u) => `${u}: ${watcherMoves.get(u)!.map((m) => `${sec(m.at)} to ${m.to}`).join(', ')}`).join('; ')}`,
        `watchers' connections lost and back: ${urls.map((u) => `${u}: ${connectionEvents.get(u)!.map((e) => `${e.lost ? 'lost' : 'back'} ${sec(e.at)}`).join(', ')}`).join('; ')}`,
      ].join('\n');
    };
    // Progress waits are bounded by the test's own timeout: on a loaded machine the batch crawls.
    const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = TIMEOUT_MS) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (failures.length > 0) throw failures[0];
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${done} of ${WORKUNITS} done)`);
        await sleep(50);
      }
    };

    const acks = () => hosts.flatMap((h) => h.acks);
    const resultsOf = async (hostId: number) =>
      (await reader.read((sql) => sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM replicas WHERE host_id = ? AND result_hash IS NOT NULL', [hostId])))!.n;
    const snapshots: Map<number, string>[] = [];
    /** What must hold at any moment, on one snapshot taken while the live instances write. */
    const checkNow = async (when: string) => {
      const acked = acks();
      const givenBack = hosts.flatMap((h) => h.givenBack);
      const receipts = hosts.flatMap((h) => h.receipts);
      const checkedAt = Date.now();
      const problems = await reader.read(async (sql: SqlExecutor) => {
        const snap = await doneSnapshot(sql);
        const found = [
          ...(await ackProblems(sql, acked)),
          ...(await givenBackProblems(sql, givenBack)),
          ...(await receiptProblems(sql, receipts)),
          ...(await creditProblems(sql)),
          ...(await counterProblemsIn(sql)),
          ...(await workunitProblems(sql)),
          ...snapshots.flatMap((s) => snapshotProblems(s, snap)),
        ];
        snapshots.push(snap);
        return found;
      });
      expect(problems, `after ${when}`).toEqual([]);
      const ledger = await fetchAndVerifyLedger(steady, coordinatorKey);
      expect(ledger.problem, `the ledger after ${when}`).toBeUndefined();
      note(`${when}: checked ${acked.length} acks, ${snapshots.at(-1)!.size} done work units, ${ledger.entries.length} ledger entries (${Date.now() - checkedAt} ms)`);
    };

    // The kills.
    const kills: { victim: string; killedAt: number; failoverMs: number[]; restartMs: number; hostsMoved: number; blindMs: number[] }[] = [];
    // Who is on an instance now: daemons by their latest "connected", logging hosts by their latest connection.
    const lastConnected = (d: VolunteerProcess) => d.logged('connected').at(-1)?.instance;
    const daemonsNowOn = (url: string) => daemons.filter((d) => lastConnected(d) === url);
    const hostsNowOn = (url: string) => hosts.filter((h) => h.connected && hostAt.get(h)!.at(-1)?.url === url);
    const killTimes: number[] = [];
    for (const [k, share] of KILL_AT.entries()) {
      await until(`${share * 100}% done`, () => done >= share * WORKUNITS);
      await sleep(rnd.between(0, 300));
      // The third kill: whichever of the two has more volunteers on it now (daemons move back to
      // their first choice only a minute or so after it is back).
      const busier = [victimA, victimB].sort((a, b) => daemonsNowOn(b).length - daemonsNowOn(a).length || hostsNowOn(b).length - hostsNowOn(a).length)[0]!;
      const victim = k === 0 ? victimA : k === 1 ? victimB : busier;
      const index = urls.indexOf(victim);
      const itsDaemons = daemonsNowOn(victim);
      const itsHosts = hostsNowOn(victim);
      const itsWatchers = urls.filter((w) => watcherOn.get(w) === victim);
      const linesBefore = new Map(daemons.map((d) => [d, d.lines.length]));
      const resultsBefore = new Map(await Promise.all(itsDaemons.map(async (d) => [d, await resultsOf(hostIdOf.get(d)!)] as const)));
      const doneBefore = done;
      expect(finished, 'the batch finished before a kill').toBe(false);
      const killedAt = Date.now();
      killTimes.push(killedAt);
      await c.instances[index]!.kill9();
      note(`kill -9 ${victim} at ${doneBefore} done; on it: ${itsDaemons.length} daemons, ${itsHosts.length} logging hosts`);
      await checkNow(`kill ${k + 1}`);

      // Its volunteers carry on elsewhere: each daemon says it fails over and connects to another instance.
      const failoverMs: number[] = [];
      for (const d of itsDaemons) {
        const since = (l: LogLine) => d.lines.indexOf(l) >= linesBefore.get(d)!;
        await d.waitForLog('failing over to another coordinator instance', (l) => since(l) && l.from === victim, 30_000);
        const moved = await d.waitForLog('connected', (l) => since(l) && l.instance !== victim, 30_000);
        failoverMs.push(Date.parse(moved.time as string) - killedAt);
      }
      await until(
        "the killed instance's logging hosts at work on another instance",
        () => itsHosts.every((h) => hostAt.get(h)!.some((a) => a.url !== victim && a.since > killedAt) && h.acks.some((a) => a.status === 'accepted' && a.sentAt > killedAt)),
        30_000,
      );
      // Live watchers on it follow the batch on another instance, and hear of its progress there.
      await until(
        "the killed instance's watchers on another instance",
        () => itsWatchers.every((w) => watcherMoves.get(w)!.some((m) => m.from === victim && m.at > killedAt) && pushes.get(w)!.some((p) => p.at > killedAt && p.done > doneBefore)),
        30_000,
      );
      const blindMs = itsWatchers.map((w) => pushes.get(w)!.find((p) => p.at > killedAt)!.at - killedAt);
      // And the batch goes on without it.
      await until('progress without the killed instance', () => done >= doneBefore + 20, 60_000);
      for (const d of itsDaemons) await until(`daemon host ${hostIdOf.get(d)} computing elsewhere`, async () => (await resultsOf(hostIdOf.get(d)!)) > resultsBefore.get(d)!, 60_000);

      const restartStarted = Date.now();
      await c.restart(index);
      const restartMs = Date.now() - restartStarted;
      kills.push({ victim, killedAt, failoverMs, restartMs, hostsMoved: itsHosts.length, blindMs });
      note(`restarted ${victim} in ${restartMs} ms; its daemons failed over in ${failoverMs.join(', ') || '-'} ms`);
    }

    // The PostgreSQL restart: every instance survives it and the batch goes on.
    await until(`${PG_RESTART_AT * 100}% done`, () => done >= PG_RESTART_AT * WORKUNITS);
    const doneBeforePg = done;
    const acksBeforePg = acks().length;
    expect(finished, 'the batch finished before the PostgreSQL restart').toBe(false);
    // A clean restart (fast: clients told, a checkpoint) or a crash (immediate: connections cut, recovery at the start), by the seed.
    const pgMode = rnd.next() < 0.5 ? 'fast' : 'immediate';
    const pgDownMs = await server.restart(pgMode);
    const pgBackAt = Date.now();
    note(`PostgreSQL restarted (${pgMode}) at ${doneBeforePg} done: ${pgDownMs} ms without it`);
    await until('results accepted again after the PostgreSQL restart', () => acks().slice(acksBeforePg).some((a) => a.status === 'accepted' && a.sentAt > pgBackAt), 60_000);
    const resumeMs = Date.now() - pgBackAt;
    await until('progress after the PostgreSQL restart', () => done > doneBeforePg + 20, 60_000);
    for (const [i, p] of c.instances.entries()) expect(p.child.exitCode, `instance ${urls[i]} exited after the PostgreSQL restart:\n${p.output.join('').slice(-3000)}`).toBeNull();
    await checkNow('the PostgreSQL restart');

    // The batch completes.
    await until('the batch done', () => finished);
    note('the batch is done');
    await Promise.all(working);
    expect(failures).toEqual([]);
    await poller;
    await readiness;
    for (const [i, p] of c.instances.entries()) expect(p.child.exitCode, `instance ${urls[i]} exited`).toBeNull();

    // The researcher's `wait`s end with the batch, on the instance never killed and on the one killed first.
    const exited = async (run: RunningCli, url: string) => {
      const late = setTimeout(() => run.kill(), 60_000);
      const result = await run.exited;
      clearTimeout(late);
      if (result.code === null) throw new Error(`wait on ${url} did not end with the batch:\n${run.lines.map((l) => `${new Date(l.at).toISOString()} ${l.line}`).join('\n')}`);
      return result;
    };
    const [steadyRun, victimRun] = await Promise.all([exited(waitSteady, steady), exited(waitVictim, victimA)]);
    for (const [run, url] of [[steadyRun, steady], [victimRun, victimA]] as const) {
      expect(run.code, `wait on ${url}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^batch ${batchId} done: ${WORKUNITS.toLocaleString('en-US')} work units`));
    }
    // The `wait` on the instance never killed showed progress after every kill and the PostgreSQL
    // restart; the one on the instance killed first said it followed the batch on another, and did.
    const progress = (run: RunningCli) =>
      run.lines.flatMap((l) => {
        const m = l.stream === 'stderr' ? / ([\d,]+) of ([\d,]+)/.exec(l.line) : null;
        return m ? [{ at: l.at, finished: Number(m[1]!.replaceAll(',', '')), line: l.line }] : [];
      });
    for (const at of [...killTimes, pgBackAt]) {
      const before = progress(waitSteady).filter((p) => p.at <= at).at(-1)?.finished ?? 0;
      expect(progress(waitSteady).some((p) => p.at > at && p.finished > before), `wait on ${steady} after ${new Date(at).toISOString()}`).toBe(true);
    }
    const moved = waitVictim.lines.find((l) => l.line.startsWith(`${victimA} does not answer; following batch ${batchId} on http://`));
    expect(moved, 'the wait on the instance killed first moved to another').toBeDefined();
    expect(moved!.at).toBeGreaterThan(killTimes[0]!);
    expect(progress(waitVictim).some((p) => p.at > moved!.at && p.finished > (progress(waitVictim).filter((q) => q.at < moved!.at).at(-1)?.finished ?? 0))).toBe(true);
    // Each live watcher heard of the batch done, including those on instances that died (once back).
    expect(watchFailures).toEqual([]);
    const lastPush = (url: string) => pushes.get(url)!.at(-1);
    for (const url of urls) expect(lastPush(url)?.done, `the last push on ${url}`).toBe(WORKUNITS);
    expect(pushes.get(steady)!.filter((p) => p.at > pgBackAt).length).toBeGreaterThan(1);

    // The public ledger: one entry per valid replica, and the chain verifies.
    const ledger = await fetchAndVerifyLedger(steady, coordinatorKey);
    expect(ledger.problem).toBeUndefined();
    expect(ledger.entries).toHaveLength(WORKUNITS * QUORUM);

    // The researcher's download, from each instance: each work unit once, with the right output.
    for (const url of urls) {
      const results = await on(url).get<string>(`/batches/${batchId}/results`);
      expect(results.status).toBe(200);
      const lines = results.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
      expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: WORKUNITS }, (_, i) => i));
      expect(lines.filter((l) => l.status !== 'done' || !sameJson(l.output, expectedOutput({ x: l.seq })))).toEqual([]);
    }

    // Daemons: nothing refused, all still running, and they stop cleanly with nothing left to report.
    for (const d of daemons) {
      expect(d.logged('result rejected')).toEqual([]);
      expect(d.child.exitCode).toBeNull();
    }
    expect(await Promise.all(daemons.map((d) => d.stop()))).toEqual(daemons.map(() => 0));
    for (const d of daemons) expect(d.logged('results kept on disk for the next start')).toEqual([]);
    // What each daemon computed is stored as its result (nothing it finished was lost on the way).
    const finishedByDaemon = new Map(daemons.map((d) => [d, new Set(d.logged('task finished').map((l) => l.taskId as number))]));
    const abortedByDaemon = new Map(daemons.map((d) => [d, new Set(d.logged('task aborted by the coordinator').map((l) => l.taskId as number))]));

    await checkNow('the batch');
    const all = acks();
    await reader.read(async (sql) => {
      expect(await sql.all('SELECT status, COUNT(*) AS n FROM workunits GROUP BY status')).toEqual([{ status: 'done', n: WORKUNITS }]);
      // Credit once: one ledger row per valid replica.
      expect(await sql.get("SELECT COUNT(*) AS n FROM replicas WHERE validate_state = 'valid'")).toEqual({ n: WORKUNITS * QUORUM });
      expect(await sql.get('SELECT COUNT(*) AS n, COUNT(DISTINCT replica_id) AS d FROM credit_ledger')).toEqual({ n: WORKUNITS * QUORUM, d: WORKUNITS * QUORUM });
      // Every daemon took part, and every task it finished has its result.
      for (const d of daemons) {
        const stored = await sql.all<{ taskId: number }>('SELECT task_id AS taskId FROM replicas WHERE host_id = ? AND result_hash IS NOT NULL', [hostIdOf.get(d)!]);
        const ids = new Set(stored.map((r) => r.taskId));
        expect(ids.size).toBeGreaterThan(0);
        expect([...finishedByDaemon.get(d)!].filter((id) => !ids.has(id) && !abortedByDaemon.get(d)!.has(id))).toEqual([]);
      }
    });
    await reader.close();
    // Every logging host's result was accepted once (or recognised as a duplicate when its reply was lost); none refused.
    const acceptedIds = all.filter((a) => a.status === 'accepted').map((a) => a.taskId);
    expect(new Set(acceptedIds).size).toBe(acceptedIds.length);
    expect(all.filter((a) => a.status === 'rejected')).toEqual([]);

    // Figures for docs/architecture.md.
    const firstWork = pushes.get(steady)!.find((p) => p.done > 0)!.at;
    const steadyGap = Math.max(...longestGaps(pushes.get(steady)!.filter((p) => p.at >= firstWork).map((p) => p.at)).map(([from, to]) => to - from));
    /** How long a watcher on the killed instance heard nothing: from the kill to its first push after the restart. */
    const count = (s: string) => all.filter((a) => a.status === s).length;
    console.log(
      `[${SUITE}] ${WORKUNITS} work units at quorum ${QUORUM}, ${DAEMONS} daemons and ${HOSTS} logging hosts, done in ${t()}; ` +
        `${all.length} acks to logging hosts (${count('accepted')} accepted, ${count('duplicate')} duplicates), ${transient.length} calls answered "try again" or lost; ` +
        `kills: ${kills.map((k) => `${k.victim} (daemons failed over in ${k.failoverMs.join('/') || '-'} ms, ${k.hostsMoved} logging hosts moved, restarted in ${k.restartMs} ms, watchers on it heard nothing for ${k.blindMs.join('/') || '-'} ms)`).join('; ')}; ` +
        `PostgreSQL restarted (${pgMode}), down ${pgDownMs} ms, results accepted again ${resumeMs} ms after; longest gap between pushes on ${steady} once work began: ${steadyGap} ms\n  ${timeline.join('\n  ')}`,
    );
    passed = true;
  }, TIMEOUT_MS);
});
