// The daemon's options: flags, then VG_VOLUNTEER_* environment variables, then defaults.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { loadOptions, type FlagSpec, type Loaded } from '../common/cli-options.js';
import { Hex32 } from '../protocol/messages.js';

const CoordinatorUrl = z.url({ protocol: /^https?$/, error: 'the coordinator URL, e.g. http://localhost:8080' });

/** --url given once or more, each a URL or a comma-separated list of them. */
const CoordinatorUrls = z
  .union([z.string(), z.array(z.string())], { error: 'the coordinator URL, e.g. http://localhost:8080 (or several: URL,URL)' })
  .transform((v) => (typeof v === 'string' ? [v] : v).flatMap((u) => u.split(',')).map((u) => u.trim()).filter((u) => u !== ''))
  .pipe(z.array(CoordinatorUrl).min(1, 'the coordinator URL, e.g. http://localhost:8080'));

export const OptionsSchema = z.strictObject({
  /** The coordinator's URLs as given: one, or several instances of it (the discovery document may list more). */
  url: CoordinatorUrls,
  threads: z.coerce.number().int().min(1).max(1024).default(availableParallelism()),
  dataDir: z.string().min(1).default('./volunteer-data'),
  name: z.string().trim().min(1).max(64).optional(),
  account: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'an account key as POST /api/v1/accounts returns it').optional(),
  maxMemoryMb: z.coerce.number().int().min(32).max(1 << 20).default(512),
  maxCpuSeconds: z.coerce.number().min(0.1).max(7 * 86_400).default(3600),
  maxDiskMb: z.coerce.number().min(1).max(1 << 30).default(2048),
  maxCheckpointMb: z.coerce.number().min(0.001).max(1024).default(16),
  maxCheckpointTotalMb: z.coerce.number().min(0.001).max(1 << 20).default(1024),
  graceSeconds: z.coerce.number().min(0).max(3600).default(30),
  prefetch: z.coerce.number().int().min(0).max(1024).optional(),
  coordinatorKey: Hex32.optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  display: z.enum(['auto', 'live', 'log']).default('auto'),
  /** Preferences and schedule (default <data-dir>/volunteer.json); the flags below override it. */
  config: z.string().min(1).optional(),
  computeHours: z.string().min(1).optional(),
  projectShares: z.string().min(1).optional(),
  onlyListedProjects: z.union([z.boolean(), z.stringbool()]).optional(),
});
export type Options = z.infer<typeof OptionsSchema>;

const env = (name: string): FlagSpec => ({ env: [`VG_VOLUNTEER_${name}`] });
const FLAGS: Record<string, FlagSpec> = {
  url: { ...env('URL'), multiple: true },
  threads: env('THREADS'),
  'data-dir': env('DATA_DIR'),
  name: env('NAME'),
  account: env('ACCOUNT'),
  'max-memory-mb': env('MAX_MEMORY_MB'),
  'max-cpu-seconds': env('MAX_CPU_SECONDS'),
  'max-disk-mb': env('MAX_DISK_MB'),
  'max-checkpoint-mb': env('MAX_CHECKPOINT_MB'),
  'max-checkpoint-total-mb': env('MAX_CHECKPOINT_TOTAL_MB'),
  'grace-seconds': env('GRACE_SECONDS'),
  prefetch: env('PREFETCH'),
  'coordinator-key': env('COORDINATOR_KEY'),
  'log-level': env('LOG_LEVEL'),
  display: env('DISPLAY'),
  config: env('CONFIG'),
  'compute-hours': env('COMPUTE_HOURS'),
  'project-shares': env('PROJECT_SHARES'),
  'only-listed-projects': { ...env('ONLY_LISTED_PROJECTS'), boolean: true },
};

export const USAGE = `Usage: volunteer-grid-volunteer --url http://coordinator:8080 [options]
   (or npm run volunteer -- --url … from a clone)

  --url URL               the coordinator (env VG_VOLUNTEER_URL). When it runs several instances,
                          give them as a list or --url again (URL,URL,...), or one of them: the
                          volunteer learns the rest from its discovery document, picks one by its
                          host key and fails over to the next when that one fails
  --threads N             tasks run at once (default: the number of cores, ${availableParallelism()} here)
  --data-dir DIR          key, trusted coordinator key, app cache, journal (default ./volunteer-data)
  --name NAME             how this machine is shown on leaderboards
  --account KEY           account key (POST /api/v1/accounts) so credit adds up across machines
  --max-memory-mb N       heap limit of each task (default 512)
  --max-cpu-seconds N     CPU-time limit of each task (default 3600)
  --max-disk-mb N         disk for cached app versions, app files and inputs; the least
                          recently used go first, never what a held task needs (default 2048)
  --max-checkpoint-mb N   largest checkpoint a task may write (default 16)
  --max-checkpoint-total-mb N
                          all the checkpoints one run of a task may write (default 1024)
  --grace-seconds N       on SIGINT/SIGTERM, how long running tasks may finish (default 30)
  --prefetch N            tasks fetched ahead beyond one per thread (default: --threads)
  --coordinator-key HEX   pin the coordinator's public key instead of trusting it on first use
  --log-level LEVEL       debug | info | warn | error | silent (default info)
  --display MODE          live (a line per thread) | log (JSON lines) | auto: live on a terminal
  --config FILE           preferences and schedule (default DATA-DIR/volunteer.json; see README)
  --compute-hours HOURS   compute only in these local hours, e.g. 22:00-07:00 or
                          08:00-09:00,12:00-14:00 (running tasks pause outside them)
  --project-shares LIST   resource shares, e.g. primes=200,mandelbrot=50 (0-1000, default 100)
  --only-listed-projects  tasks only from the projects in the config file or --project-shares
  --help                  this text

Control the running daemon (same --data-dir), like boinccmd:
  volunteer-grid-volunteer status | tasks | credit
  volunteer-grid-volunteer pause | resume
  volunteer-grid-volunteer no-new-tasks [PROJECT] | allow-new-tasks [PROJECT]

Every option can also be set as an environment variable VG_VOLUNTEER_<NAME>, e.g. VG_VOLUNTEER_THREADS=2.
`;

export function loadVolunteerOptions(argv: string[], environment: NodeJS.ProcessEnv): Loaded<Options> {
  return loadOptions(OptionsSchema, FLAGS, USAGE, argv, environment);
}
