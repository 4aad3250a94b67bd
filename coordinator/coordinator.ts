// Runs the coordinator: the core, plus HTTP routes and the Socket.IO volunteer namespace on
// one server, and the deadline timer.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Server as SocketServer, type Namespace } from 'socket.io';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import type { Config } from './config.js';
import { createCore, type Core } from './core.js';
import { seedDemo } from './demo/seed-demo.js';
import { volunteerRoutes } from './http/routes.js';
import { createLogger, errorFields, type Logger } from '../common/log.js';
import { attachVolunteerNamespace, socketNotifier } from './volunteers/namespace.js';

export interface RunningCoordinator extends Omit<Core, 'close'> {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startCoordinator(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningCoordinator> {
  let nsp: Namespace | undefined;
  const core = createCore(config, socketNotifier(() => nsp));
  if (core.keyCreated) log.info('created coordinator key', { dataDir: config.dataDir });

  const seeded = await seedDemo(core, config.demoWorkunits).catch((e: unknown) => {
    core.close();
    throw e;
  });
  if (seeded) log.info('seeded demo project', { batchIds: seeded.batchIds, workunits: config.demoWorkunits });

  const app = express();
  app.disable('x-powered-by');
  app.use(volunteerRoutes({ ...core, coordinatorKey: core.key.publicKey, log }));
  const http = createServer(app);
  const io = new SocketServer(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, serveClient: false, cors: { origin: '*' } });
  nsp = attachVolunteerNamespace(io, { registry: core.registry, service: core.service, coordinatorKey: core.key.publicKey, log });

  const sweep = setInterval(() => {
    try {
      const n = core.service.sweepDeadlines();
      if (n > 0) log.info('deadline sweep', { workunits: n });
    } catch (e) {
      log.error('deadline sweep failed', errorFields(e));
    }
  }, config.transitionIntervalMs);
  sweep.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, () => resolve());
    });
  } catch (e) {
    clearInterval(sweep);
    core.close();
    throw e;
  }
  const port = (http.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('coordinator listening', { url, coordinatorKey: core.key.publicKey, dataDir: config.dataDir });

  let closing: Promise<void> | undefined;
  return {
    ...core,
    url,
    port,
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        await new Promise<void>((resolve) => io.close(() => resolve()));
        http.closeAllConnections();
        core.close();
        log.info('coordinator stopped');
      })();
      return closing;
    },
  };
}
