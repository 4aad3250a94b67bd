// `npm run volunteer -- --url http://host:8080`: the headless volunteer daemon as a program.
import { resolve } from 'node:path';
import { createLogger, errorFields } from '../common/log.js';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import { Daemon } from './daemon.js';
import { LiveDisplay } from './live-display.js';
import { loadVolunteerOptions } from './options.js';

const MB = 1024 * 1024;

const loaded = loadVolunteerOptions(process.argv.slice(2), process.env);
if ('message' in loaded) {
  (loaded.exitCode === 0 ? process.stdout : process.stderr).write(loaded.message);
  process.exit(loaded.exitCode);
}
const o = loaded.options;
const live = o.display === 'live' || (o.display === 'auto' && process.stdout.isTTY === true);
let display: LiveDisplay | undefined;
// With the live display, only warnings and errors are printed, above the live lines.
const log = createLogger(live && o.logLevel === 'info' ? 'warn' : o.logLevel, (line) => (display ? display.print(line) : process.stdout.write(line)));

let daemon: Daemon;
try {
  daemon = new Daemon(
    {
      url: o.url,
      dataDir: resolve(o.dataDir),
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
    },
    nodeEd25519(),
    log,
  );
} catch (e) {
  process.stderr.write(`volunteer failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
log.info('volunteer starting', { url: o.url, hostKey: daemon.host.publicKey, threads: o.threads, dataDir: resolve(o.dataDir) });
if (live) {
  process.stdout.write(`volunteer-grid volunteer → ${o.url}\n  host key ${daemon.host.publicKey}\n  ${o.threads} threads, data in ${resolve(o.dataDir)}; Ctrl-C to stop\n\n`);
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
      log.info('volunteer stopped', {});
      process.exit(0);
    },
    (e: unknown) => {
      log.error('stop failed', errorFields(e));
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

daemon.untilFatal().catch(async (e: Error) => {
  log.error('the coordinator refused this volunteer', { error: e.message });
  process.stderr.write(`volunteer stopped: ${e.message}\n`);
  await daemon.stop().catch(() => undefined);
  display?.stop();
  process.exit(1);
});
