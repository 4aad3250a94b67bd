// A real coordinator in this process on a random loopback port with a temp data dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema, type Config } from '../../coordinator/config.js';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/coordinator.js';
import { createLogger, type Logger } from '../../common/log.js';
import { dropTestDatabaseOf, TEST_BACKEND, testDatabaseOf } from './postgres.js';

export { TEST_BACKEND };

/** The first admin's password in test coordinators (name: admin). */
export const TEST_ADMIN_PASSWORD = 'test-admin-password';

export interface TestCoordinator extends RunningCoordinator {
  dataDir: string;
  /** Closes and removes the data dir. */
  dispose(): Promise<void>;
}

/** `log` receives the coordinator's log (default: none unless VG_TEST_LOG is set). */
export async function startTestCoordinator(overrides: Partial<Config> = {}, log?: Logger): Promise<TestCoordinator> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'vg-coordinator-'));
  // On PostgreSQL, the data dir's own database: a coordinator started again on a data dir finds it.
  const database = TEST_BACKEND === 'postgres' && overrides.databaseUrl === undefined ? await testDatabaseOf(dataDir) : undefined;
  const config = ConfigSchema.parse({ port: 0, host: '127.0.0.1', dataDir, databaseUrl: database?.url, logLevel: 'silent', transitionIntervalMs: 100, demoWorkunits: 0, adminPassword: TEST_ADMIN_PASSWORD,
    // Tests drive many clients from one address as fast as they can: no rate limits unless asked.
    httpRatePerIp: 0, connectRatePerIp: 0, messageRatePerSocket: 0, messageRatePerHost: 0, connectionsPerIp: 0,
    // A caught host's re-check runs at once unless a test asks for the delay; checks (done work
    // units sent again) only where a test asks for them, so that a host's tasks are its batch's.
    recheckDelayMs: 0, checkRate: 0,
    // Closed at once: nothing polls a test coordinator's /readyz while it stops.
    shutdownDrainMs: 0,
    // Every host here starts new: quotas out of the way unless a test asks for them.
    newHostTasks: 256, newHostTasksPerDay: 1_000_000, newHostShare: 1, ...overrides });
  const running = await startCoordinator(config, log ?? createLogger(process.env.VG_TEST_LOG ? 'debug' : 'silent'));
  return Object.assign(running, {
    dataDir,
    async dispose() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (database) await dropTestDatabaseOf(dataDir);
    },
  });
}

/** Polls until check() is true, or fails after timeoutMs with what it was waiting for. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
