// Builds the coordinator from its parts and runs it: store, keys, work lifecycle, Socket.IO
// namespace and HTTP routes on one server, and the deadline timer.
import { mkdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import { Server as SocketServer, type Namespace } from 'socket.io';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import { AppRegistry } from './apps/app-registry.js';
import type { Config } from './config.js';
import { seedDemo } from './demo/seed-demo.js';
import { BlobStore } from './files/blob-store.js';
import { volunteerRoutes } from './http/routes.js';
import { loadOrCreateCoordinatorKey } from './identity/coordinator-key.js';
import { createLogger, errorFields, type Logger } from './log.js';
import { Store } from './store/store.js';
import { HostRegistry } from './volunteers/host-registry.js';
import { attachVolunteerNamespace, socketNotifier } from './volunteers/namespace.js';
import { VolunteerService } from './volunteers/volunteer-service.js';
import { CreditGranter } from './work/credit-granter.js';
import { Outbox } from './work/outbox.js';
import { ResultIntake } from './work/result-intake.js';
import { Scheduler } from './work/scheduler.js';
import { Submission } from './work/submission.js';
import { Transitioner } from './work/transitioner.js';

export interface RunningCoordinator {
  url: string;
  port: number;
  coordinatorKey: string;
  store: Store;
  apps: AppRegistry;
  submission: Submission;
  service: VolunteerService;
  /** Cancels a batch and tells hosts to abort its tasks. */
  cancelBatch(batchId: number): number;
  close(): Promise<void>;
}

export async function startCoordinator(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningCoordinator> {
  mkdirSync(config.dataDir, { recursive: true });
  const ed = nodeEd25519();
  const { key, created } = loadOrCreateCoordinatorKey(config.dataDir, ed);
  if (created) log.info('created coordinator key', { dataDir: config.dataDir });
  const store = Store.open(join(config.dataDir, 'coordinator.sqlite'));
  const blobs = new BlobStore(join(config.dataDir, 'files'));

  let nsp: Namespace | undefined;
  const notifier = socketNotifier(() => nsp);
  const credit = new CreditGranter(store, key);
  const transitioner = new Transitioner(store, blobs, credit, { distinctUsers: config.distinctUsers });
  const scheduler = new Scheduler(store, key, {
    distinctUsers: config.distinctUsers,
    trustThreshold: config.trustThreshold,
    spotCheckRate: config.spotCheckRate,
    maxInFlightPerHost: config.maxInFlightPerHost,
    random: Math.random,
  });
  const service = new VolunteerService(store, scheduler, new ResultIntake(store, ed, transitioner), transitioner, notifier);
  const registry = new HostRegistry(store, ed, key.publicKey);
  const apps = new AppRegistry(store, blobs, key);
  const submission = new Submission(store, blobs, transitioner);

  const seeded = seedDemo({ store, apps, submission }, config.demoWorkunits);
  if (seeded) log.info('seeded demo project', { batchId: seeded.batchId, workunits: config.demoWorkunits });

  const app = express();
  app.disable('x-powered-by');
  app.use(volunteerRoutes({ store, blobs, registry, ed, coordinatorKey: key.publicKey, log }));
  const http: HttpServer = createServer(app);
  const io = new SocketServer(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, serveClient: false, cors: { origin: '*' } });
  nsp = attachVolunteerNamespace(io, { registry, service, coordinatorKey: key.publicKey, log });

  const sweep = setInterval(() => {
    try {
      const n = service.sweepDeadlines();
      if (n > 0) log.info('deadline sweep', { workunits: n });
    } catch (e) {
      log.error('deadline sweep failed', errorFields(e));
    }
  }, config.transitionIntervalMs);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('coordinator listening', { url, coordinatorKey: key.publicKey, dataDir: config.dataDir });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    coordinatorKey: key.publicKey,
    store,
    apps,
    submission,
    service,
    cancelBatch(batchId) {
      const outbox = new Outbox();
      const n = submission.cancelBatch(batchId, outbox);
      outbox.flush(notifier);
      return n;
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        await new Promise<void>((resolve) => io.close(() => resolve()));
        http.closeAllConnections();
        store.close();
        log.info('coordinator stopped');
      })();
      return closing;
    },
  };
}
