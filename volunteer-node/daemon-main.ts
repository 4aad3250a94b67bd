// The headless volunteer daemon as a program (main.ts starts it when no companion command is given).
import { resolve } from 'node:path';
import { createLogger, errorFields } from '../common/log.js';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import { parseComputeHours } from './compute-hours.js';
import { defaultConfigFile, mergeProjects, parseProjectShares, readConfig } from './config-file.js';
import { listenControl } from './control-socket.js';
import { Daemon, privateDataDir } from './daemon.js';
import { LiveDisplay } from './live-display.js';
import { loadVolunteerOptions } from './options.js';

const MB = 1024 * 1024;

const argv = process.argv.slice(2);

const loaded = loadVolunteerOptions(argv, process.env);
if ('message' in loaded) {
  (loaded.exitCode === 0 ? process.stdout : process.stderr).write(loaded.message);
  process.exit(loaded.exitCode);
}
const o = loaded.options;
const dataDir = resolve(o.dataDir);

// Preferences and schedule: the config file, with the flags over it.
const configFile = o.config === undefined ? defaultConfigFile(dataDir) : resolve(o.config);
const config = readConfig(configFile);
const flagShares = o.projectShares === undefined ? [] : parseProjectShares(o.projectShares);
const hoursText = o.computeHours ?? ('error' in config ? undefined : config.computeHours);
const hours = hoursText === undefined ? undefined : parseComputeHours(hoursText);
for (const problem of ['error' in config ? config.error : undefined, 'error' in flagShares ? `--project-shares: ${flagShares.error}` : undefined, hours && 'error' in hours ? `--compute-hours: ${hours.error}` : undefined]) {
  if (problem === undefined) continue;
  process.stderr.write(`volunteer: ${problem}\n`);
  process.exit(2);
}
const fileConfig = 'error' in config ? {} : config;

const live = o.display === 'live' || (o.display === 'auto' && process.stdout.isTTY === true);
let display: LiveDisplay | undefined;
// With the live display, only warnings and errors are printed, above the live lines.
const log = createLogger(live && o.logLevel === 'info' ? 'warn' : o.logLevel, (line) => (display ? display.print(line) : process.stdout.write(line)));
// Node's own warnings go through the log too: written straight to stderr, they would land
// inside the live lines and the next redraw would leave them garbled.
process.removeAllListeners('warning');
process.on('warning', (w) => log.warn('node warning', { name: w.name, warning: w.message }));

let daemon: Daemon;
try {
  // The control socket first: when another daemon answers on it, this one must not connect,
  // nor touch the journal they would share.
  privateDataDir(dataDir, log);
  let started: Daemon | undefined;
  const control = await listenControl(dataDir, (request) =>
    started ? started.onControl(request) : { ok: false, error: { code: 'starting', message: 'the volunteer is starting; ask again in a moment' } },
  );
  daemon = started = new Daemon(
    {
      urls: o.url,
      dataDir,
      threads: o.threads,
      prefetch: o.prefetch ?? o.threads,
      maxMemoryMb: o.maxMemoryMb,
      maxCpuMs: o.maxCpuSeconds * 1000,
      maxDiskBytes: Math.round(o.maxDiskMb * MB),
      checkpointLimits: { bytes: Math.round(o.maxCheckpointMb * MB), totalBytes: Math.round(o.maxCheckpointTotalMb * MB) },
      graceMs: o.graceSeconds * 1000,
      ...(o.name === undefined ? {} : { name: o.name }),
      ...(o.account === undefined ? {} : { accountKey: o.account }),
      ...(o.coordinatorKey === undefined ? {} : { coordinatorKey: o.coordinatorKey }),
      ...(hours === undefined || 'error' in hours ? {} : { computeHours: hours }),
      projects: mergeProjects(fileConfig.projects ?? [], 'error' in flagShares ? [] : flagShares),
      onlyListed: o.onlyListedProjects ?? fileConfig.onlyListed ?? false,
    },
    nodeEd25519(),
    log,
  );
  daemon.useControl(control);
} catch (e) {
  process.stderr.write(`volunteer failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
log.info('volunteer starting', { url: o.url.join(','), hostKey: daemon.host.publicKey, threads: o.threads, dataDir, control: `${dataDir}/control.sock` });
if (live) {
  process.stdout.write(
    `volunteer-grid volunteer → ${o.url.join(', ')}\n  host key ${daemon.host.publicKey}\n  ${o.threads} threads, data in ${dataDir}; Ctrl-C to stop\n` +
      `  volunteer-grid-volunteer status | pause | resume | tasks | credit --data-dir ${o.dataDir}\n\n`,
  );
  display = new LiveDisplay(() => daemon.view(), o.threads);
}

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info('signal received', { signal });
  daemon.stop().then(
    () => {
      display?.stop();
      const v = daemon.view();
      log.info('volunteer stopped', { handedBack: v.stopping?.handingBack ?? 0, unreported: v.unreported, done: v.done });
      process.exit(0);
    },
    (e: unknown) => {
      log.error('stop failed', errorFields(e));
      process.exit(1);
    },
  );
  display?.redraw(); // "stopping: finishing N tasks (up to S s), handing back M" at once
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

daemon.untilFatal().catch(async (e: Error) => {
  log.error('the coordinator refused this volunteer', { error: e.message });
  await daemon.stop().catch(() => undefined);
  display?.stop();
  process.stderr.write(`volunteer stopped: ${e.message}\n`);
  process.exit(1);
});
