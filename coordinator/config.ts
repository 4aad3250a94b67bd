// Configuration from command-line flags, then environment variables, then defaults.
import { z } from 'zod';
import { loadOptions, type FlagSpec, type Loaded } from '../common/cli-options.js';
import { InstanceUrlsSchema } from './cluster/instance-urls.js';
import { TrustProxySchema } from './http/client-address.js';
import { AllowedOriginsSchema } from './http/origin-policy.js';
import { MAX_FILE_BYTES } from '../protocol/limits.js';

/** A work unit's input: checked and encoded on the event loop when it is submitted, about 20 ms a MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 4 * 1024 * 1024;

/** A task's output, uploaded as a file: stored, and checked as a stream (about 30 ms a MiB, a slice at a time). */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Credits: about half a day of a fast core (coordinator/work/credit.ts), for projects whose admin set no cap. */
export const DEFAULT_MAX_CREDIT_PER_RESULT = 1000;

export const ConfigSchema = z.strictObject({
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  host: z.string().min(1).default('localhost'),
  dataDir: z.string().min(1).default('./data'),
  /** The content-addressed files (default: the data dir's files/): a directory every instance shares in a cluster. */
  filesDir: z.string().min(1).optional(),
  /** The coordinator key (default: the data dir's, made at the first start): the one file every instance is given in a cluster. */
  keyFile: z.string().min(1).optional(),
  /** Redis for cluster mode (redis://host:port): pushes and presence across instances. */
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\//, 'a Redis URL starts with redis:// (or rediss://)')
    .optional(),
  /** What this platform's channels in Redis are named after: two platforms may share one Redis. */
  redisPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').default('vg'),
  /** The public URL of every instance (this one included), listed in the discovery document for volunteers to spread over. */
  clusterUrls: InstanceUrlsSchema.optional(),
  /** PostgreSQL instead of the data dir's SQLite file (postgres://user@host:port/db). */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL starts with postgres:// (or postgresql://)')
    .optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /**
   * The background jobs' leases (deadline sweep, re-checks, output collection…): each runs on one
   * instance at a time, and another takes it over this long after that one stops renewing (dies).
   */
  leaseTtlMs: z.coerce.number().int().min(300).max(600_000).default(10_000),
  /** How often the transitioner looks for missed deadlines. */
  transitionIntervalMs: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
  /** Work units of the demo's primes batch, seeded when the data dir is empty, beside at most 48 Mandelbrot strips (0: no demo). */
  demoWorkunits: z.coerce.number().int().min(0).max(1_000_000).default(500),
  /** Never send two replicas of one work unit to hosts of the same user. */
  distinctUsers: z.union([z.boolean(), z.stringbool()]).default(true),
  trustThreshold: z.coerce.number().int().min(1).default(10),
  spotCheckRate: z.coerce.number().min(0).max(1).default(0.1),
  /** Share of each host's tasks that are checks: a sentinel where one waits, else a done work unit sent again. */
  checkRate: z.coerce.number().min(0).max(1).default(0.05),
  /** A caught host's earlier results are re-checked after a random delay of up to this. */
  recheckDelayMs: z.coerce.number().int().min(0).max(24 * 3600 * 1000).default(600_000),
  maxInFlightPerHost: z.coerce.number().int().min(1).max(10_000).default(256),
  /** A new host's allowance: tasks held at once, and taken a day; each valid result doubles both, each failure halves them. */
  newHostTasks: z.coerce.number().int().min(1).max(10_000).default(4),
  newHostTasksPerDay: z.coerce.number().int().min(1).max(100_000_000).default(100),
  maxTasksPerDayPerHost: z.coerce.number().int().min(1).max(1_000_000_000).default(1_000_000),
  /** Share of a batch's work units that new hosts (fewer valid results than the trust threshold) may hold at once. */
  newHostShare: z.coerce.number().min(0).max(1).default(0.1),
  /** A task whose host reports no progress on it for this long is reissued. */
  holdTimeoutMs: z.coerce.number().int().min(1000).max(30 * 24 * 3600 * 1000).default(3_600_000),
  /** The most credit one result earns in a project whose admin set no cap of its own. */
  maxCreditPerResult: z.coerce.number().min(0).max(1e9).default(DEFAULT_MAX_CREDIT_PER_RESULT),
  /** The largest work-unit input (its canonical JSON), and so the longest NDJSON line, near enough. */
  maxInputBytes: z.coerce.number().int().min(1024).max(MAX_FILE_BYTES).default(DEFAULT_MAX_INPUT_BYTES),
  /** The largest output one task may upload (PUT /files), once. */
  maxOutputBytes: z.coerce.number().int().min(1024).max(MAX_FILE_BYTES).default(DEFAULT_MAX_OUTPUT_BYTES),
  /** An uploaded output nothing refers to is removed once this long has passed since its upload. */
  uploadGraceMs: z.coerce.number().int().min(0).max(30 * 24 * 3_600_000).default(3_600_000),
  /** The highest work-unit priority in a project whose admin set no bound of its own. */
  maxPriority: z.coerce.number().int().min(0).max(1000).default(10),
  /** A host without a connection this long has its tasks in progress reissued. */
  disconnectGraceMs: z.coerce.number().int().min(100).max(7 * 24 * 3600 * 1000).default(120_000),
  /** HTTP requests per second per client address (bursts of 5×); 0: unlimited. */
  httpRatePerIp: z.coerce.number().min(0).max(1_000_000).default(200),
  /** Socket.IO connections per second per client address (bursts of 5×); 0: unlimited. */
  connectRatePerIp: z.coerce.number().min(0).max(1_000_000).default(20),
  /** Volunteer messages per second per connection (bursts of 5×); 0: unlimited. */
  messageRatePerSocket: z.coerce.number().min(0).max(1_000_000).default(100),
  /** Volunteer messages per second per host over all its connections (bursts of 5×); 0: unlimited. */
  messageRatePerHost: z.coerce.number().min(0).max(1_000_000).default(200),
  /** How long a host that found no work waits before asking again (it is told at once of new work). */
  idleRetryMs: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  /** TCP connections one address may have open at once (HTTP and Socket.IO together); 0: no cap. */
  connectionsPerIp: z.coerce.number().int().min(0).max(1_000_000).default(128),
  /** Time to send a request's headers (Node's headersTimeout). */
  headersTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** Time to send a whole request, body included (Node's requestTimeout); 0: none. Generous: a big batch over a slow uplink takes long. */
  requestTimeoutMs: z.coerce.number().int().min(0).max(7 * 24 * 3_600_000).default(3_600_000),
  /** A request body must deliver at least --body-min-bytes-per-second over every stretch this long (not counting time the coordinator is not reading); 0: not checked. */
  bodyTimeoutMs: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  bodyMinBytesPerSecond: z.coerce.number().min(0).max(1e9).default(1024),
  /** Connections one host (one key) may have open at once. */
  connectionsPerHost: z.coerce.number().int().min(1).max(1000).default(4),
  /** The first admin's password, used only when the database has no account yet (else random). */
  adminPassword: z.string().min(12, 'the admin password has at least 12 characters').max(200).optional(),
  /** Mark the session cookie Secure: set it when the coordinator is served over HTTPS. */
  secureCookies: z.union([z.boolean(), z.stringbool()]).default(false),
  /**
   * The reverse proxies in front (addresses, CIDR ranges, loopback | linklocal | uniquelocal, or a
   * hop count): X-Forwarded-For names the client only on connections from them. Default: none.
   */
  trustProxy: TrustProxySchema.default(false),
  /**
   * Origins besides the coordinator's own whose pages may use the session cookie (the web UI
   * behind a proxy that serves it at another URL). Token requests may come from anywhere.
   */
  allowedOrigins: AllowedOriginsSchema.default([]),
  /** Serve GET /metrics (Prometheus) on this port of --metrics-host; absent: no metrics at all. */
  metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** The interface of the metrics listener: loopback unless the operator opens it on purpose. */
  metricsHost: z.string().min(1).default('127.0.0.1'),
  /** On SIGTERM, /readyz answers 503 and everything else is served as before for this long, then connections close. */
  shutdownDrainMs: z.coerce.number().int().min(0).max(600_000).default(2_000),
}).superRefine((c, ctx) => {
  // Volunteers move between the listed instances: each must see the others' hosts (Redis) and
  // work (one database), or a host that failed over would have its tasks reissued as gone.
  if ((c.clusterUrls?.length ?? 0) > 1 && (c.redisUrl === undefined || c.databaseUrl === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['clusterUrls'],
      message: 'several instance URLs need the instances to share one PostgreSQL database (--database-url) and one Redis (--redis-url)',
    });
  }
});
export type Config = z.infer<typeof ConfigSchema>;

const FLAGS: Record<string, FlagSpec> = {
  port: { env: ['VG_PORT', 'PORT'] },
  host: { env: ['VG_HOST'] },
  'data-dir': { env: ['VG_DATA_DIR'] },
  'files-dir': { env: ['VG_FILES_DIR'] },
  'key-file': { env: ['VG_KEY_FILE'] },
  'database-url': { env: ['VG_DATABASE_URL'] },
  'redis-url': { env: ['VG_REDIS_URL'] },
  'redis-prefix': { env: ['VG_REDIS_PREFIX'] },
  'cluster-urls': { env: ['VG_CLUSTER_URLS'] },
  'log-level': { env: ['VG_LOG_LEVEL'] },
  'lease-ttl-ms': { env: ['VG_LEASE_TTL_MS'] },
  'transition-interval-ms': { env: ['VG_TRANSITION_INTERVAL_MS'] },
  'demo-workunits': { env: ['VG_DEMO_WORKUNITS'] },
  'distinct-users': { env: ['VG_DISTINCT_USERS'] },
  'trust-threshold': { env: ['VG_TRUST_THRESHOLD'] },
  'spot-check-rate': { env: ['VG_SPOT_CHECK_RATE'] },
  'check-rate': { env: ['VG_CHECK_RATE'] },
  'recheck-delay-ms': { env: ['VG_RECHECK_DELAY_MS'] },
  'max-in-flight-per-host': { env: ['VG_MAX_IN_FLIGHT_PER_HOST'] },
  'new-host-tasks': { env: ['VG_NEW_HOST_TASKS'] },
  'new-host-tasks-per-day': { env: ['VG_NEW_HOST_TASKS_PER_DAY'] },
  'max-tasks-per-day-per-host': { env: ['VG_MAX_TASKS_PER_DAY_PER_HOST'] },
  'new-host-share': { env: ['VG_NEW_HOST_SHARE'] },
  'hold-timeout-ms': { env: ['VG_HOLD_TIMEOUT_MS'] },
  'max-credit-per-result': { env: ['VG_MAX_CREDIT_PER_RESULT'] },
  'max-priority': { env: ['VG_MAX_PRIORITY'] },
  'max-input-bytes': { env: ['VG_MAX_INPUT_BYTES'] },
  'max-output-bytes': { env: ['VG_MAX_OUTPUT_BYTES'] },
  'upload-grace-ms': { env: ['VG_UPLOAD_GRACE_MS'] },
  'disconnect-grace-ms': { env: ['VG_DISCONNECT_GRACE_MS'] },
  'http-rate-per-ip': { env: ['VG_HTTP_RATE_PER_IP'] },
  'connect-rate-per-ip': { env: ['VG_CONNECT_RATE_PER_IP'] },
  'message-rate-per-socket': { env: ['VG_MESSAGE_RATE_PER_SOCKET'] },
  'message-rate-per-host': { env: ['VG_MESSAGE_RATE_PER_HOST'] },
  'connections-per-host': { env: ['VG_CONNECTIONS_PER_HOST'] },
  'idle-retry-ms': { env: ['VG_IDLE_RETRY_MS'] },
  'connections-per-ip': { env: ['VG_CONNECTIONS_PER_IP'] },
  'headers-timeout-ms': { env: ['VG_HEADERS_TIMEOUT_MS'] },
  'request-timeout-ms': { env: ['VG_REQUEST_TIMEOUT_MS'] },
  'body-timeout-ms': { env: ['VG_BODY_TIMEOUT_MS'] },
  'body-min-bytes-per-second': { env: ['VG_BODY_MIN_BYTES_PER_SECOND'] },
  'admin-password': { env: ['VG_ADMIN_PASSWORD'] },
  'secure-cookies': { env: ['VG_SECURE_COOKIES'] },
  'trust-proxy': { env: ['VG_TRUST_PROXY'] },
  'allowed-origins': { env: ['VG_ALLOWED_ORIGINS'] },
  'metrics-port': { env: ['VG_METRICS_PORT'] },
  'metrics-host': { env: ['VG_METRICS_HOST'] },
  'shutdown-drain-ms': { env: ['VG_SHUTDOWN_DRAIN_MS'] },
};

export const USAGE = `Usage: npm start -- [options]

  --port N                    HTTP and Socket.IO port (env VG_PORT or PORT; default 8080; 0 picks a free port)
  --host NAME                 interface to listen on (env VG_HOST; default localhost)
  --data-dir DIR              database, key and files (env VG_DATA_DIR; default ./data)
  --files-dir DIR             the stored files (app files, large inputs, uploaded outputs), content-
                              addressed: in a cluster, one directory every instance shares, e.g. an NFS
                              mount (env VG_FILES_DIR; default DATA_DIR/files)
  --key-file FILE             the coordinator's signing key: in a cluster, one file every instance is
                              given, made once by \`volunteer-grid admin init-key --key-file FILE\`;
                              it must exist (env VG_KEY_FILE; default DATA_DIR/coordinator-key.json,
                              made at the first start)
  --database-url URL          keep the database on PostgreSQL (postgres://user@host:port/db) instead of
                              the data dir's SQLite file (env VG_DATABASE_URL; default: SQLite)
  --redis-url URL             cluster mode: Redis (redis://host:port) carries pushes to volunteers and
                              researchers, and who is connected, across the instances sharing the
                              database (env VG_REDIS_URL; default: none, one instance)
  --redis-prefix NAME         what this platform's Redis channels are named after (env VG_REDIS_PREFIX;
                              default vg)
  --cluster-urls LIST         cluster mode: the public URL of every instance, this one included
                              (scheme://host[:port], comma-separated, the same list on each); the discovery
                              document lists them, and volunteers spread over them and fail over between
                              them. Several need --database-url and --redis-url. Leave it out behind a
                              load balancer that is the one URL volunteers use (env VG_CLUSTER_URLS;
                              default: volunteers know only the URL they were given)
  --log-level LEVEL           debug | info | warn | error | silent (env VG_LOG_LEVEL; default info)
  --lease-ttl-ms N            background jobs (deadline sweep, re-checks, output collection…) run on one
                              instance at a time under a lease; another instance takes a job over N ms
                              after its holder stops renewing, i.e. dies (env VG_LEASE_TTL_MS; default 10000)
  --transition-interval-ms N  deadline sweep period (env VG_TRANSITION_INTERVAL_MS; default 5000)
  --demo-workunits N          work units of the demo's primes batch, seeded into an empty data dir with a
                              Mandelbrot batch of at most 48 (env VG_DEMO_WORKUNITS; default 500; 0: no demo)
  --distinct-users BOOL       never send two replicas of a work unit to one user's hosts (default true)
  --trust-threshold N         consecutive valid results before adaptive replication trusts a host (default 10)
  --spot-check-rate F         share of a trusted host's work still replicated (default 0.1)
  --check-rate F              share of each host's tasks that are checks: a sentinel where one waits, else
                              a done work unit sent again to compare answers (default 0.05)
  --recheck-delay-ms N        re-check a caught host's earlier results after a random delay of up to N ms (default 600000)
  --max-in-flight-per-host N  most tasks one host may hold (default 256)
  --new-host-tasks N          tasks a new host may hold at first; each valid result doubles it, each error,
                              invalid result or task left without reply halves it (default 4)
  --new-host-tasks-per-day N  tasks a new host may take a day at first, likewise (default 100)
  --max-tasks-per-day-per-host N  most tasks any host may take a day (default 1000000)
  --new-host-share F          share of a batch's work units that new hosts together may hold (default 0.1)
  --hold-timeout-ms N         reissue a task whose host reports no progress on it this long (default 3600000)
  --max-credit-per-result N   most credit one result earns in a project without a cap of its own (an
                              admin sets one per project: PUT /api/v1/projects/:id/credit-cap; default 1000)
  --max-priority N            highest work-unit priority in a project without a bound of its own (an admin
                              sets one per project: PUT /api/v1/projects/:id/priority-cap; default 10)
  --max-input-bytes N         largest work-unit input, as canonical JSON (default 4194304, at most 67108864;
                              each MiB is about 20 ms of the coordinator's event loop when it is submitted)
  --max-output-bytes N        largest output a task may upload, once (default 16777216, at most 67108864)
  --upload-grace-ms N         remove an uploaded output nothing refers to this long after its upload (default 3600000)
  --disconnect-grace-ms N     reissue the tasks of a host gone this long (env VG_DISCONNECT_GRACE_MS; default 120000)
  --http-rate-per-ip N        HTTP requests per second per address, bursts of 5x (default 200; 0: no limit)
  --connect-rate-per-ip N     Socket.IO connections per second per address, bursts of 5x (default 20; 0: no limit)
  --message-rate-per-socket N volunteer messages per second per connection, bursts of 5x (default 100; 0: no limit)
  --message-rate-per-host N   volunteer messages per second per host over all its connections, bursts of 5x (default 200; 0: no limit)
  --connections-per-host N    connections one host may have open at once (default 4)
  --idle-retry-ms N           how long a volunteer that found no work waits before asking again; it is
                              also told at once when new work appears (default 10000)
  --connections-per-ip N      TCP connections one address may have open at once; more are answered 429
                              and closed (default 128; 0: no cap)
  --headers-timeout-ms N      time to send a request's headers (default 30000)
  --request-timeout-ms N      time to send a whole request, body included (default 3600000; 0: none)
  --body-timeout-ms N         a request body must deliver --body-min-bytes-per-second over every stretch of
                              N ms the coordinator waits for it, or it is cut with 408 (default 30000; 0: off)
  --body-min-bytes-per-second N  (default 1024)
  --admin-password P          first admin's password on an empty database (env VG_ADMIN_PASSWORD,
                              preferred: flags show in ps); default: a random one, printed once
  --secure-cookies BOOL       Secure session cookie, for HTTPS deployments (env VG_SECURE_COOKIES; default false)
  --trust-proxy LIST|N        the reverse proxies in front: addresses, CIDR ranges, loopback, linklocal,
                              uniquelocal (comma-separated), or how many there are; the client address
                              (rate limits, login throttle) comes from X-Forwarded-For only on connections
                              from them (env VG_TRUST_PROXY; default: none)
  --allowed-origins LIST      origins besides the coordinator's own (scheme://host[:port], comma-separated)
                              whose pages may use the session cookie: the web UI's public URL behind a
                              proxy that rewrites Host (env VG_ALLOWED_ORIGINS; default: none)
  --metrics-port N            serve GET /metrics (Prometheus text format) on its own listener at this port
                              (env VG_METRICS_PORT; default: no metrics; never on the public --port)
  --metrics-host NAME         the metrics listener's interface (env VG_METRICS_HOST; default 127.0.0.1:
                              keep it off the public network, or behind a firewall)
  --shutdown-drain-ms N       on SIGTERM or SIGINT, answer /readyz with 503 and serve everything else as
                              before for N ms, so a load balancer stops sending new clients, then close
                              every connection and exit (env VG_SHUTDOWN_DRAIN_MS; default 2000; 0: at once)
  --help                      this text
`;

/** Returns the configuration, or a message for the user (bad flags, --help). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Loaded<Config> {
  return loadOptions(ConfigSchema, FLAGS, USAGE, argv, env);
}
