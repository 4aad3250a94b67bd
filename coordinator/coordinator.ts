// Runs the coordinator: the core, plus HTTP routes, the researcher API, the admin UI and the
// Socket.IO namespaces on one server, the deadline timer and the replica maker.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Server as SocketServer, type Namespace, type Socket } from 'socket.io';
import { MAX_MESSAGE_BYTES } from '../protocol/limits.js';
import { createLogger, errorFields, type Logger } from '../common/log.js';
import { ADMIN_NAMESPACE, attachAdminNamespace, type BatchWatch } from './api/admin-namespace.js';
import { API_PREFIX, apiRouter } from './api/api-router.js';
import type { Config } from './config.js';
import { addBackgroundJobs, discardAbandoned } from './background-jobs.js';
import { UNFENCED } from './cluster/fence.js';
import { InstanceLease } from './cluster/instance-lease.js';
import { SingletonJobs } from './cluster/singleton-jobs.js';
import { createCore, type Core } from './core.js';
import { PlannerStatistics } from './store/postgres/planner-statistics.js';
import { Store } from './store/store.js';
import { bindCoordinatorKey } from './identity/key-binding.js';
import { DEMO_PROJECT, seedDemo } from './demo/seed-demo.js';
import { batchBlockage } from './research/batch-blocked.js';
import { batchStatus, type StatusOf } from './research/batch-status.js';
import { adminUi } from './http/admin-ui.js';
import { addressGroup, clientAddress, trustFunction } from './http/client-address.js';
import { OriginPolicy } from './http/origin-policy.js';
import { rateLimitByAddress, whenTaken } from './http/rate-limit.js';
import { limiterFactory } from './cluster/shared-rate-limit.js';
import { SharedLoginThrottle } from './cluster/shared-login-throttle.js';
import { limitConnectionsPerAddress, watchBodyProgress } from './http/slow-clients.js';
import { readiness, readinessHandler } from './http/readiness.js';
import { volunteerRoutes } from './http/routes.js';
import { volunteerCors } from './http/volunteer-cors.js';
import { volunteerPage } from './http/volunteer-page.js';
import { DbStatsReader } from './ops/db-stats.js';
import { CoordinatorMetrics, serveMetrics } from './ops/metrics.js';
import { DATABASE_FILE_NAME } from './ops/sqlite-file.js';
import { GroupCommit } from './store/group-commit.js';
import { appliedSchemaVersion, knownSchemaVersion } from './store/schema-version.js';
import { DisconnectGrace } from './volunteers/disconnect-grace.js';
import { attachVolunteerNamespace, onlineHostsByPlatform, socketNotifier, VOLUNTEER_NAMESPACE } from './volunteers/namespace.js';
import { clusterPresence, localPresence } from './volunteers/presence.js';
import { connectRedis, type RedisLink } from './cluster/redis-link.js';
import { ReplicaMaker } from './work/batch-ingest.js';

/** How long /readyz waits for the database before answering from its last answer, and how old that may be. */
const READY_WAIT_MS = 500;
const READY_STALE_MS = 30_000;

/** Between instances (serverSideEmit): batches whose status changed, for each instance's watchers. */
const BATCHES_CHANGED = 'batches.changed';

export interface RunningCoordinator extends Omit<Core, 'close'> {
  url: string;
  port: number;
  /** Where GET /metrics is served, when --metrics-port is set. */
  metricsUrl?: string;
  /** Set when this start created the first admin account (the password is shown once). */
  firstAdmin?: { name: string; password: string; generated: boolean };
  /** Resolves when every committed batch has its replicas. */
  replicasReady(): Promise<void>;
  close(): Promise<void>;
}

export async function startCoordinator(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningCoordinator> {
  let nsp: Namespace | undefined;
  let watch: BatchWatch | undefined;
  // Batches whose status changed: told to this instance's watchers, and in a cluster to the others'.
  let changedElsewhere: ((ids: number[]) => void) | undefined;
  const batchesChanged = (ids: number[]) => {
    watch?.batchesChanged(ids);
    changedElsewhere?.(ids);
  };
  const notifier = { ...socketNotifier(() => nsp), batchesChanged };
  // PostgreSQL when asked for (--database-url), else the data dir's SQLite file.
  const store = config.databaseUrl
    ? await Store.openPostgres(config.databaseUrl, (e) => log.warn('a pooled PostgreSQL connection failed; the pool replaces it', errorFields(e)))
    : undefined;
  // The background jobs, each run by one instance at a time under a lease (background-jobs.ts);
  // handed to the core before they start, so that what it kicks reaches them.
  const jobs = new SingletonJobs({ ttlMs: config.leaseTtlMs, intervalMs: Math.floor(config.leaseTtlMs / 4) }, log);
  // (A turn that fails is logged by its LeasedJob, with the job's name.)
  let core: Core;
  try {
    core = createCore(config, notifier, { store, jobs });
  } catch (e) {
    await store?.close(); // a key file missing or unreadable: nothing was started on it
    throw e;
  }
  if (core.keyCreated) log.info('created coordinator key', { keyFile: core.keyFile });
  if (core.keyFileMode !== undefined) {
    log.warn('other users can read the coordinator key file: it signs tasks and credit in the coordinator’s name (chmod 600 it)', { keyFile: core.keyFile, mode: core.keyFileMode });
  }
  try {
    const { recorded } = await bindCoordinatorKey(core.store.sql, core.key.publicKey, Date.now());
    if (recorded) log.info('the database now belongs to this coordinator key', { coordinatorKey: core.key.publicKey });
  } catch (e) {
    await core.close();
    throw e;
  }
  const { tightened, failed } = core.dataDirModes;
  if (tightened.length > 0) {
    log.warn('tightened the data dir: other users could read it', { dataDir: config.dataDir, tightened: tightened.length, paths: tightened.slice(0, 100) });
  }
  if (failed.length > 0) {
    log.error('other users can still read part of the data dir: fix its owner or modes by hand', { dataDir: config.dataDir, failed: failed.slice(0, 100) });
  }
  // Instances sharing PostgreSQL: this one is alive while it holds its lease, taken before it
  // takes any host or batch, so that the others take up what it leaves if it dies.
  const instanceLease = core.store.sql.dialect === 'postgres' ? new InstanceLease(core.leases, config.leaseTtlMs, Math.floor(config.leaseTtlMs / 4), log) : undefined;
  try {
    await instanceLease?.start();
  } catch (e) {
    await core.close();
    throw e;
  }
  const plannerStatistics = new PlannerStatistics(core.store.sql, log);
  const replicasMade = (batchId: number) => {
    plannerStatistics.changed();
    batchesChanged([batchId]);
    notifier.workAvailable();
  };
  const replicaMaker = new ReplicaMaker(core.submission, (e) => log.error('creating replicas failed', errorFields(e)), replicasMade);

  let firstAdmin: RunningCoordinator['firstAdmin'];
  try {
    firstAdmin = await core.accounts.ensureFirstAdmin(config.adminPassword);
    if (firstAdmin) log.info('created the first admin account', { name: firstAdmin.name, passwordGenerated: firstAdmin.generated });
    const seeded = await seedDemo(core, config.demoWorkunits);
    if (seeded) log.info('seeded demo project', { project: DEMO_PROJECT, workunits: seeded.workunits, batches: seeded.batches });
    const admin = (await core.accounts.list()).filter((a) => a.role === 'admin').sort((a, b) => a.id - b.id)[0];
    if (admin) await core.store.catalog.adoptOwnerless(admin.id);
    // On SQLite a staged batch found at start is a crash's leftover; on PostgreSQL the
    // abandoned-submissions job looks for those whose instance is gone, from time to time.
    if (core.store.sql.dialect === 'sqlite') await discardAbandoned(core, UNFENCED, log);
  } catch (e) {
    await instanceLease?.end();
    await core.close();
    throw e;
  }
  replicaMaker.add(await core.store.work.batchesWithoutReplicas());

  // Cluster mode (--redis-url): pushes, and questions about who is connected, go to every instance.
  let redis: RedisLink | undefined;
  if (config.redisUrl) {
    try {
      redis = await connectRedis(config.redisUrl, log);
    } catch (e) {
      await instanceLease?.end();
      await core.close();
      throw e;
    }
  }
  // Per-client budgets: one per client across the cluster, not one per instance it reaches.
  const limiter = limiterFactory(redis?.pub, config.redisPrefix, log);
  const localOnline = localPresence(() => nsp);
  const presence = redis ? clusterPresence(() => nsp) : localOnline;
  // What a restart (or a dead instance) left — re-checks, credit corrections, priority
  // lowerings, cancellations, hosts gone and batches short of replicas — is resumed by the jobs'
  // first turns, wherever their leases go.
  addBackgroundJobs(jobs, core, config, Math.floor(config.leaseTtlMs / 4), {
    onlineEverywhere: () => presence.onlineEverywhere(),
    onReplicasMade: replicasMade,
    upSince: instanceLease?.since ?? 0,
  }, log);

  // Metrics only when asked for (--metrics-port), on a listener of their own.
  let stats: DbStatsReader | undefined;
  let metrics: CoordinatorMetrics | undefined;
  if (config.metricsPort !== undefined) {
    try {
      stats = config.databaseUrl ? DbStatsReader.on(core.store.sql) : DbStatsReader.onSqliteFile(join(config.dataDir, DATABASE_FILE_NAME));
    } catch (e) {
      log.error('metrics: cannot read the database; work units, verdicts and the ledger are left out', errorFields(e));
    }
    const reader = stats;
    metrics = new CoordinatorMetrics({
      hostsByPlatform: () => (nsp ? onlineHostsByPlatform(nsp) : new Map()),
      leasesHeld: () => jobs.held(),
      dbStats: async () => {
        try {
          return await reader?.read();
        } catch (e) {
          log.warn('reading the metrics from the database failed', errorFields(e));
          return undefined;
        }
      },
    });
  }
  let accepting = true;

  // One rule for who the client is, in Express (req.ip, req.protocol) and everything that counts per address.
  const trust = trustFunction(config.trustProxy);
  const origins = new OriginPolicy(config.allowedOrigins, trust);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trust);
  app.use(rateLimitByAddress(limiter('http', { perSecond: config.httpRatePerIp, burst: config.httpRatePerIp * 5 }), trust, () => metrics?.refused('http')));
  const knownSchema = knownSchemaVersion(core.store.sql.dialect);
  let lastApplied: { version: number; at: number } | undefined;
  app.get(
    '/readyz',
    volunteerCors, // volunteers on another instance look before moving back here
    readinessHandler(async () => {
      // SQLite's one connection may be held by a long transaction: a probe gets the last answer
      // after half a second rather than wait (a database that stopped answering reads as down).
      const asked = appliedSchemaVersion(core.store.sql).then(
        (v) => (lastApplied = { version: v, at: Date.now() }),
        () => (lastApplied = undefined),
      );
      const answer = await Promise.race([asked.then(() => lastApplied), sleep(READY_WAIT_MS).then(() => (lastApplied && Date.now() - lastApplied.at < READY_STALE_MS ? lastApplied : undefined))]);
      return readiness(answer?.version, knownSchema, core.key.publicKey.length === 64, accepting);
    }),
  );
  app.use(volunteerRoutes({ ...core, coordinatorKey: core.key.publicKey, ...(config.clusterUrls ? { instances: config.clusterUrls } : {}), log }));
  const statusOf: StatusOf = (batch, now) =>
    batchStatus(core.store.reports, batch, now, async (open, replicas) =>
      batchBlockage(core.store, batch, open, replicas, await presence.onlineHostIds(), (hostId, candidates) => core.couldTake(hostId, candidates, now)),
    );
  app.use(
    API_PREFIX,
    apiRouter({
      ...core,
      log,
      trustThreshold: config.trustThreshold,
      secureCookies: config.secureCookies,
      trust,
      origins,
      ...(redis ? { loginGate: new SharedLoginThrottle(redis.pub, config.redisPrefix, log) } : {}),
      maxInputBytes: config.maxInputBytes,
      onCommitted: (batchId) => replicaMaker.add([batchId]),
      onlineHostIds: () => presence.onlineHostIds(),
      statusOf,
      workAvailable: () => notifier.workAvailable(),
    }),
  );
  app.use('/admin', adminUi());
  app.use(volunteerPage(config.clusterUrls ?? []));
  app.use((req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route ${req.method} ${req.path}` } });
  });
  // Headers must come within --headers-timeout-ms, a whole request within --request-timeout-ms
  // (an hour: a big batch over a slow uplink takes longer than Node's default 5 minutes), and a
  // body must keep coming (watchBodyProgress). Node looks for expired requests this often.
  const headersTimeout = config.requestTimeoutMs > 0 ? Math.min(config.headersTimeoutMs, config.requestTimeoutMs) : config.headersTimeoutMs;
  const http = createServer({ connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 4))) }, app);
  http.headersTimeout = headersTimeout;
  http.requestTimeout = config.requestTimeoutMs;
  // A connection that goes quiet is cut after two minutes of silence.
  http.setTimeout(120_000);
  limitConnectionsPerAddress(http, config.connectionsPerIp, trust);
  const io = new SocketServer(http, {
    maxHttpBufferSize: MAX_MESSAGE_BYTES,
    serveClient: false,
    cors: { origin: '*' },
    // Redis 7's sharded Pub/Sub: a push to a room reaches its sockets on every instance.
    ...(redis ? { adapter: createShardedAdapter(redis.pub, redis.sub, { channelPrefix: `${config.redisPrefix}:socket.io` }) } : {}),
  });
  // After Socket.IO took the server's request listeners: its long-polling requests are watched too.
  watchBodyProgress(http, { windowMs: config.bodyTimeoutMs, minBytesPerSecond: config.bodyMinBytesPerSecond });
  const grace = new DisconnectGrace(
    config.disconnectGraceMs,
    (hostId) => presence.isOnline(hostId),
    // Asked again in the transaction, of this instance (no I/O while it holds a connection): the
    // host may have come back while the transaction waited for the database.
    (hostId) => core.store.transaction(async (tx) => ((await localOnline.isOnline(hostId)) ? 0 : core.service.giveUpHost(tx, hostId))),
    log,
  );
  const connects = limiter('connect', { perSecond: config.connectRatePerIp, burst: config.connectRatePerIp * 5 });
  const limitConnections = (socket: Socket, next: (err?: Error) => void) => {
    const refused = () => {
      metrics?.refused('connect');
      next(new Error('rate_limited: too many connections from this address; slow down'));
    };
    whenTaken(connects.take(addressGroup(clientAddress(socket.handshake.address, socket.handshake.headers, trust))), next, refused, () => next());
  };
  const commits = new GroupCommit(core.store, {
    beforeCommit: (tx) => core.service.writeHeard(tx),
    onNoticeError: (e: unknown) => log.error('telling hosts about committed work failed', errorFields(e)),
    ...(metrics ? { observe: (n: number, seconds: number) => metrics!.groupCommitted(n, seconds) } : {}),
  });
  // Before anything else a connection costs (the /admin namespace looks its credentials up).
  io.of(VOLUNTEER_NAMESPACE).use(limitConnections);
  io.of(ADMIN_NAMESPACE).use(limitConnections);
  nsp = attachVolunteerNamespace(io, {
    registry: core.registry,
    service: core.service,
    commits,
    coordinatorKey: core.key.publicKey,
    log,
    presence: grace,
    messageLimit: { perSecond: config.messageRatePerSocket, burst: config.messageRatePerSocket * 5 },
    hostMessageLimit: { perSecond: config.messageRatePerHost, burst: config.messageRatePerHost * 5 },
    sharedLimiter: limiter,
    connectionsEverywhere: (hostId) => presence.connectionsOf(hostId),
    connectionsPerHost: config.connectionsPerHost,
    idleRetryMs: config.idleRetryMs,
    maxOutputBytes: config.maxOutputBytes,
    ...(metrics ? { observe: metrics.volunteerMessage.bind(metrics) } : {}),
  });
  // After a restart nobody is connected yet: hosts holding tasks get the same grace to come back.
  for (const hostId of await core.store.work.hostsWithTasksInProgress()) grace.left(hostId);
  watch = attachAdminNamespace(io, { store: core.store, accounts: core.accounts, statusOf, origins, log });
  if (redis) {
    const admin = io.of(ADMIN_NAMESPACE);
    changedElsewhere = (ids) => admin.serverSideEmit(BATCHES_CHANGED, ids);
    admin.on(BATCHES_CHANGED, (ids: unknown) => {
      if (Array.isArray(ids) && ids.every((id) => Number.isSafeInteger(id))) watch?.batchesChanged(ids as number[]);
    });
  }

  // The jobs start once there is somewhere to tell hosts what they do. On SQLite a lease found
  // at start is this coordinator's previous run's (one coordinator per file): ended, not waited out.
  if (core.store.sql.dialect === 'sqlite') await core.leases.endOthers();
  await jobs.start(core.leases);

  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  const stopAll = async () => {
    accepting = false;
    if (metricsServer) {
      metricsServer.server.closeAllConnections();
      await new Promise<void>((resolve) => metricsServer!.server.close(() => resolve()));
    }
    await stats?.close();
    // After the drain: the jobs ran on meanwhile. Their leases are given up, so that another
    // instance takes each over at once rather than after --lease-ttl-ms.
    await jobs.stop();
    replicaMaker.stop();
    await replicaMaker.idle();
    await plannerStatistics.close();
    watch?.close();
    await grace.close();
    // Last: the others count its hosts' grace periods from now, and take up its batches at once.
    await instanceLease?.end();
  };

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, () => resolve());
    });
    if (metrics && config.metricsPort !== undefined) metricsServer = await serveMetrics(metrics, config.metricsPort, config.metricsHost);
  } catch (e) {
    http.close();
    await stopAll();
    await redis?.close();
    await core.close();
    throw e;
  }
  const port = (http.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('coordinator listening', { url, coordinatorKey: core.key.publicKey, dataDir: config.dataDir, filesDir: core.blobs.root, instance: core.instance });
  if (metricsServer) log.info('metrics served', { url: metricsServer.url });

  let closing: Promise<void> | undefined;
  return {
    ...core,
    url,
    port,
    ...(firstAdmin ? { firstAdmin } : {}),
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    replicasReady: () => replicaMaker.idle(),
    close() {
      closing ??= (async () => {
        accepting = false; // /readyz answers 503 from now on
        // Everything is served as before for the drain, so a load balancer polling /readyz sees the
        // 503 and sends new clients elsewhere before these connections close.
        if (config.shutdownDrainMs > 0) {
          log.info('draining before closing connections: /readyz answers 503', { drainMs: config.shutdownDrainMs });
          await sleep(config.shutdownDrainMs);
        }
        // Answer what has arrived while the sockets are still open; refuse what comes after.
        await commits.close();
        await stopAll();
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await redis?.close();
        http.closeAllConnections();
        await core.close();
        log.info('coordinator stopped');
      })();
      return closing;
    },
  };
}
