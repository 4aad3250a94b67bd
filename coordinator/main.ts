// `npm start`: the coordinator as a program.
import { loadConfig } from './config.js';
import { startCoordinator } from './coordinator.js';
import { createLogger, errorFields } from '../common/log.js';

const loaded = loadConfig(process.argv.slice(2), process.env);
if ('message' in loaded) {
  (loaded.exitCode === 0 ? process.stdout : process.stderr).write(loaded.message);
  process.exit(loaded.exitCode);
}
const config = loaded.options;
const log = createLogger(config.logLevel);

try {
  const coordinator = await startCoordinator(config, log);
  process.stdout.write(
    `\nvolunteer-grid coordinator running at ${coordinator.url}\n` +
      `  coordinator public key: ${coordinator.key.publicKey}\n` +
      `  served at ${coordinator.url}/.well-known/volunteer-grid.json\n` +
      `  data dir: ${config.dataDir}\n` +
      `  files dir: ${coordinator.blobs.root}\n` +
      `  admin UI: ${coordinator.url}/admin\n\n`,
  );
  if (coordinator.firstAdmin?.generated) {
    // Shown once, here only: it is stored as a scrypt hash.
    process.stdout.write(
      `  Created the first admin account. Log in at ${coordinator.url}/admin with\n` +
        `    name:     ${coordinator.firstAdmin.name}\n` +
        `    password: ${coordinator.firstAdmin.password}\n` +
        `  This password is not shown again; change it once logged in.\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    coordinator.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('stop failed', errorFields(e));
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (e) {
  log.error('coordinator failed to start', errorFields(e));
  process.stderr.write(`coordinator failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
