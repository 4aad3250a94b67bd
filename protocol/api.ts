// The researcher REST API's response bodies (docs/api.md), as zod schemas and the types
// inferred from them: the one definition the coordinator sends, the CLI checks, the admin UI
// and the tests read. Objects are plain z.object (unknown keys are dropped, not refused), so
// a client keeps working when the coordinator adds a field. Request bodies stay with the
// coordinator's routes, which are their only reader.
import { z } from 'zod';
import { APP_KINDS } from './app-kind.js';

const Id = z.number().int();
const Count = z.number().int().nonnegative();
const Millis = z.number();

// ---- errors ----

/** The stable codes of API errors; each has one HTTP status (see coordinator/api/api-error.ts). */
export const API_ERROR_CODES = [
  'bad_request',
  'unauthenticated',
  'forbidden',
  'not_found',
  'conflict',
  'too_large',
  'unsupported_media_type',
  'rate_limited',
  'timeout',
  'internal',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** What went wrong. `code` is read as any string, so a code added later does not break a client. */
export const ApiErrorDetailSchema = z.object({ code: z.string(), message: z.string() });
export type ApiErrorDetail = z.infer<typeof ApiErrorDetailSchema>;

/** The body of every error answer. */
export const ApiErrorBodySchema = z.object({ error: ApiErrorDetailSchema });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

// ---- accounts, sessions, tokens ----

export const RoleSchema = z.enum(['researcher', 'admin']);
export type Role = z.infer<typeof RoleSchema>;

export const AccountSchema = z.object({ id: Id, name: z.string(), role: RoleSchema });
export type Account = z.infer<typeof AccountSchema>;

/** `POST` and `GET /session`; `csrfToken` is null for a bearer token. */
export const SessionSchema = z.object({ account: AccountSchema, csrfToken: z.string().nullable() });
export type Session = z.infer<typeof SessionSchema>;

/** An account as admins manage it (`/researchers`). */
export const AccountDetailSchema = AccountSchema.extend({ disabled: z.boolean(), createdAt: Millis });
export type AccountDetail = z.infer<typeof AccountDetailSchema>;

export const AccountListSchema = z.object({ accounts: z.array(AccountDetailSchema) });
export type AccountList = z.infer<typeof AccountListSchema>;

/** `POST /researchers`: the password only when the coordinator generated it. */
export const CreatedAccountSchema = z.object({ account: AccountDetailSchema, password: z.string().optional() });
export type CreatedAccount = z.infer<typeof CreatedAccountSchema>;

/** `PATCH /researchers/:id`. */
export const UpdatedAccountSchema = z.object({ account: AccountDetailSchema });
export type UpdatedAccount = z.infer<typeof UpdatedAccountSchema>;

export const ApiTokenSchema = z.object({ id: Id, name: z.string(), createdAt: Millis, lastUsedAt: Millis.nullable() });
export type ApiToken = z.infer<typeof ApiTokenSchema>;

export const TokenListSchema = z.object({ tokens: z.array(ApiTokenSchema) });
export type TokenList = z.infer<typeof TokenListSchema>;

/** `POST /tokens`: the secret, shown this once. */
export const CreatedTokenSchema = ApiTokenSchema.extend({ token: z.string() });
export type CreatedToken = z.infer<typeof CreatedTokenSchema>;

// ---- projects, apps, app versions ----

export const WorkunitStateSchema = z.enum(['active', 'done', 'failed', 'cancelled']);
export type WorkunitState = z.infer<typeof WorkunitStateSchema>;

export const WorkunitCountsSchema = z.object({ active: Count, done: Count, failed: Count, cancelled: Count });
export type WorkunitCounts = z.infer<typeof WorkunitCountsSchema>;

export const ProjectStatusSchema = z.enum(['active', 'paused']);
export type ProjectStatus = z.infer<typeof ProjectStatusSchema>;

/** The most credit one result earns in a project (docs/security.md, credit bounds). */
export const CreditCapSchema = z.object({
  /** In credits. */
  maxPerResult: z.number().nonnegative(),
  /** No admin set one: the coordinator's `--max-credit-per-result`. */
  isDefault: z.boolean(),
  /** Credit granted above a lowered cap is still being taken back. */
  correcting: z.boolean(),
});
export type CreditCap = z.infer<typeof CreditCapSchema>;

/** The highest work-unit priority a project's batches may ask for (docs/security.md). */
export const PriorityCapSchema = z.object({
  maxPriority: z.number().int(),
  /** No admin set one: the coordinator's `--max-priority`. */
  isDefault: z.boolean(),
  /** The project's queued work is still being brought down to a lowered bound. */
  lowering: z.boolean(),
});
export type PriorityCap = z.infer<typeof PriorityCapSchema>;

export const ProjectSchema = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  status: ProjectStatusSchema,
  ownerId: Id.nullable(),
  ownerName: z.string().nullable(),
  createdAt: Millis,
  workunits: WorkunitCountsSchema,
  creditCap: CreditCapSchema,
  priorityCap: PriorityCapSchema,
});
export type Project = z.infer<typeof ProjectSchema>;

export const ProjectListSchema = z.object({ projects: z.array(ProjectSchema) });
export type ProjectList = z.infer<typeof ProjectListSchema>;

/** How an app's replicas must agree. */
export const ValidationSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('exact') }),
  z.object({ mode: z.literal('tolerance'), absEpsilon: z.number(), relEpsilon: z.number() }),
]);
export type Validation = z.infer<typeof ValidationSchema>;

export const VersionPlatformSchema = z.enum(['any', 'node', 'browser']);
export type VersionPlatform = z.infer<typeof VersionPlatformSchema>;

/** What a host must offer to run an app version. */
export const RequirementsSchema = z.object({
  wasm: z.boolean().optional(),
  minMemoryMb: z.number().int().optional(),
  features: z.array(z.string()).optional(),
});
export type Requirements = z.infer<typeof RequirementsSchema>;

export const AppFileInfoSchema = z.object({ name: z.string(), sha256: z.string(), size: Count });
export type AppFileInfo = z.infer<typeof AppFileInfoSchema>;

export const AppVersionSchema = z.object({
  id: Id,
  appId: Id,
  version: z.number().int(),
  platform: VersionPlatformSchema,
  requirements: RequirementsSchema,
  bundleHash: z.string(),
  signature: z.string(),
  entry: z.string(),
  /** What the upload found the version to be (protocol/app-kind.ts). */
  kind: z.enum(APP_KINDS),
  files: z.array(AppFileInfoSchema),
  createdAt: Millis,
  /** It failed to load on every volunteer that ran it: no task is sent with it. */
  broken: z.object({ at: Millis, reason: z.string() }).nullable(),
  /** Retired by a researcher: no task is sent with it. */
  retiredAt: Millis.nullable(),
});
export type AppVersion = z.infer<typeof AppVersionSchema>;

/** `PATCH /apps/:id/versions/:version`. */
export const VersionChangeSchema = z.strictObject({ retired: z.boolean() });

export const AppSchema = z.object({
  id: Id,
  projectId: Id,
  name: z.string(),
  validation: ValidationSchema,
  homogeneousRedundancy: z.boolean(),
  adaptiveReplication: z.boolean(),
  createdAt: Millis,
  versions: z.array(AppVersionSchema),
});
export type App = z.infer<typeof AppSchema>;

/** A batch as `GET /projects/:id` lists it (the full status comes from `/batches`). */
export const ProjectBatchSchema = z.object({
  id: Id,
  name: z.string(),
  appId: Id,
  appName: z.string(),
  workunits: Count,
  cancelled: z.boolean(),
  createdAt: Millis,
});
export type ProjectBatch = z.infer<typeof ProjectBatchSchema>;

export const ProjectDetailSchema = ProjectSchema.extend({ apps: z.array(AppSchema), batches: z.array(ProjectBatchSchema) });
export type ProjectDetail = z.infer<typeof ProjectDetailSchema>;

// ---- batches ----

/**
 * Replication parameters with the limits the coordinator accepts (a batch's, or a work
 * unit's). Strict: it also checks what researchers submit.
 */
export const ReplicationSchema = z.strictObject({
  /** Agreeing successful results from distinct hosts needed for a canonical result. */
  minQuorum: z.number().int().min(1).max(16),
  /** Replicas created at once when the work unit is created. */
  targetNresults: z.number().int().min(1).max(16),
  /** More client errors than this fail the work unit. */
  maxErrorResults: z.number().int().min(0).max(64),
  /** More replicas than this (excluding given back and not needed) fail the work unit. */
  maxTotalResults: z.number().int().min(1).max(64),
  /** This many successful results without agreement fail the work unit ("no consensus"). */
  maxSuccessResults: z.number().int().min(1).max(64),
  /** Time a host has to return a result (deadline = sent + delayBoundMs). */
  delayBoundMs: z.number().int().min(1000).max(90 * 24 * 3600 * 1000),
  /** Estimated floating-point operations: drives credit (cobblestones). */
  fpopsEst: z.number().positive().max(1e21),
  /** Higher goes first. */
  priority: z.number().int().min(-1000).max(1000),
});
export type Replication = z.infer<typeof ReplicationSchema>;

export { DEFAULT_REPLICATION } from './replication-defaults.js';

/** `POST /apps/:id/batches`: 201 when created, 200 with the first batch for a known client key. */
export const SubmittedSchema = z.object({
  batchId: Id,
  created: z.boolean(),
  workunits: Count,
  /** What will keep it from running, said at once (its project is paused, say). */
  warnings: z.array(z.string()).optional(),
});
export type Submitted = z.infer<typeof SubmittedSchema>;

export const BatchStateSchema = z.enum(['active', 'done', 'cancelled']);
export type BatchState = z.infer<typeof BatchStateSchema>;

/** Replicas by state: not sent yet, out on a volunteer, or over with an outcome. */
export const ReplicaCountsSchema = z.object({
  unsent: Count,
  inProgress: Count,
  success: Count,
  clientError: Count,
  noReply: Count,
  aborted: Count,
  abandoned: Count,
  notNeeded: Count,
});
export type ReplicaCounts = z.infer<typeof ReplicaCountsSchema>;

/** Work units finished in the bucket that starts at `t`. */
export const SeriesPointSchema = z.object({ t: Millis, done: Count, failed: Count });
export type SeriesPoint = z.infer<typeof SeriesPointSchema>;

/** `GET /batches/:id`, and what the /admin namespace pushes as `batch.status`. */
/** Why an open batch cannot move, in words a researcher acts on. */
export const BlockedCodeSchema = z.enum(['project_paused', 'app_broken', 'no_version', 'no_hosts', 'no_eligible_hosts', 'all_failing']);
export type BlockedCode = z.infer<typeof BlockedCodeSchema>;
export const BlockedReasonSchema = z.object({ code: BlockedCodeSchema, message: z.string() });
export type BlockedReason = z.infer<typeof BlockedReasonSchema>;

export const BatchStatusSchema = z.object({
  id: Id,
  projectId: Id,
  projectName: z.string(),
  appId: Id,
  appName: z.string(),
  name: z.string(),
  clientKey: z.string().nullable(),
  status: BatchStateSchema,
  /** The app version it is pinned to (null: the newest, as by default). */
  appVersion: z.number().int().nullable(),
  /** Hidden from lists unless asked for (finished batches only). */
  archived: z.boolean(),
  createdAt: Millis,
  finishedAt: Millis.nullable(),
  workunits: WorkunitCountsSchema.extend({ total: Count }),
  replicas: ReplicaCountsSchema,
  throughput: z.object({ workunitsPerSecond: z.number(), windowMs: Millis }),
  etaMs: Millis.nullable(),
  series: z.object({ bucketMs: Millis, points: z.array(SeriesPointSchema) }),
  /** Empty while it can move; else why not (see docs/api.md, "When a batch cannot move"). */
  blocked: z.array(BlockedReasonSchema),
});
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

export const BatchListSchema = z.object({ batches: z.array(BatchStatusSchema) });
export type BatchList = z.infer<typeof BatchListSchema>;

/** `POST /batches/:id/retry`: which failed work units to open again (all without codes). */
export const RetryRequestSchema = z.strictObject({ codes: z.array(z.string().min(1).max(64)).min(1).max(32).optional() });
export const RetriedSchema = z.object({ retried: Count });
export type Retried = z.infer<typeof RetriedSchema>;

/** `PATCH /batches/:id`: pin it to an app version (null: the newest), or archive it (finished only). */
export const BatchChangeSchema = z.strictObject({ appVersion: z.number().int().positive().nullable().optional(), archived: z.boolean().optional() });

/** `POST /batches/:id/cancel`: how many work units it cancelled. */
export const CancelledSchema = z.object({ cancelled: Count });
export type Cancelled = z.infer<typeof CancelledSchema>;

// ---- work units and replicas ----

export const WorkunitSummarySchema = z.object({
  id: Id,
  seq: z.number().int(),
  status: WorkunitStateSchema,
  errorReason: z.string().nullable(),
  finishedAt: Millis.nullable(),
});
export type WorkunitSummary = z.infer<typeof WorkunitSummarySchema>;

/** `GET /batches/:id/workunits`: pass `next` as `after` for the next page. */
export const WorkunitPageSchema = z.object({ workunits: z.array(WorkunitSummarySchema), next: z.number().int().nullable() });
export type WorkunitPage = z.infer<typeof WorkunitPageSchema>;

export const ReplicaStatusSchema = z.enum(['unsent', 'in_progress', 'over']);
export type ReplicaStatus = z.infer<typeof ReplicaStatusSchema>;
export const ReplicaOutcomeSchema = z.enum(['success', 'client_error', 'no_reply', 'aborted', 'abandoned', 'not_needed']);
export type ReplicaOutcome = z.infer<typeof ReplicaOutcomeSchema>;
export const ValidateStateSchema = z.enum(['pending', 'valid', 'invalid']);
export type ValidateState = z.infer<typeof ValidateStateSchema>;

/** The error a volunteer reported for a replica (a code of the volunteer protocol). */
export const ReplicaErrorSchema = z.object({ code: z.string(), message: z.string() });
export type ReplicaError = z.infer<typeof ReplicaErrorSchema>;

/** What the app logged in the run that produced a result: its last lines, and how many came before. */
export const ReplicaLogSchema = z.object({
  lines: z.array(z.object({ level: z.enum(['debug', 'info', 'warn', 'error']), text: z.string() })),
  omitted: z.number().int().nonnegative(),
});
export type ReplicaLog = z.infer<typeof ReplicaLogSchema>;

export const ReplicaDetailSchema = z.object({
  id: Id,
  /** `regular`; `sentinel` (its work unit's answer is known); `check` (sent after its work unit was done, to test a host). */
  kind: z.enum(['regular', 'sentinel', 'check']),
  /** The app version it was sent with (null: not sent). */
  appVersion: z.number().int().nullable(),
  hostId: Id.nullable(),
  hostName: z.string().nullable(),
  userName: z.string().nullable(),
  status: ReplicaStatusSchema,
  outcome: ReplicaOutcomeSchema.nullable(),
  validateState: ValidateStateSchema.nullable(),
  sentAt: Millis.nullable(),
  deadline: Millis.nullable(),
  receivedAt: Millis.nullable(),
  cpuTimeMs: z.number().nullable(),
  elapsedMs: z.number().nullable(),
  credit: z.number().nullable(),
  outputHash: z.string().nullable(),
  /** null when not stored inline (over 256 KiB) or not returned. */
  output: z.unknown(),
  error: ReplicaErrorSchema.nullable(),
  /** null: no result yet, or the app logged nothing. */
  log: ReplicaLogSchema.nullable(),
});
export type ReplicaDetail = z.infer<typeof ReplicaDetailSchema>;

/** `GET /workunits/:id`: `input` is null when it is stored as a file (named by `inputHash`). */
export const WorkunitDetailSchema = WorkunitSummarySchema.extend({
  ...ReplicationSchema.shape,
  batchId: Id,
  appId: Id,
  input: z.unknown(),
  inputHash: z.string(),
  canonicalReplicaId: Id.nullable(),
  createdAt: Millis,
  replicas: z.array(ReplicaDetailSchema),
});
export type WorkunitDetail = z.infer<typeof WorkunitDetailSchema>;

// ---- errors and validation of a batch ----

export const BatchErrorSchema = z.object({
  replicaId: Id,
  workunitId: Id,
  seq: z.number().int(),
  hostId: Id.nullable(),
  hostName: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  at: Millis.nullable(),
});
export type BatchError = z.infer<typeof BatchErrorSchema>;

/** `GET /batches/:id/errors`, newest first. */
export const BatchErrorsSchema = z.object({ byCode: z.record(z.string(), Count), errors: z.array(BatchErrorSchema) });
export type BatchErrors = z.infer<typeof BatchErrorsSchema>;

export const ValidationReplicaSchema = z.object({
  replicaId: Id,
  hostId: Id.nullable(),
  hostName: z.string().nullable(),
  validateState: ValidateStateSchema.nullable(),
});
export type ValidationReplica = z.infer<typeof ValidationReplicaSchema>;

/** Successful replicas with the same output. */
export const OutputGroupSchema = z.object({
  outputHash: z.string(),
  canonical: z.boolean(),
  /** null when the output is not stored inline. */
  output: z.unknown(),
  replicas: z.array(ValidationReplicaSchema),
});
export type OutputGroup = z.infer<typeof OutputGroupSchema>;

export const ValidationErrorSchema = z.object({
  replicaId: Id,
  hostId: Id.nullable(),
  hostName: z.string().nullable(),
  code: z.string(),
  message: z.string(),
});
export type ValidationError = z.infer<typeof ValidationErrorSchema>;

export const ValidationWorkunitSchema = z.object({
  id: Id,
  seq: z.number().int(),
  status: WorkunitStateSchema,
  minQuorum: z.number().int(),
  errorReason: z.string().nullable(),
  /** The canonical group first, then the larger groups. */
  groups: z.array(OutputGroupSchema),
  errors: z.array(ValidationErrorSchema),
});
export type ValidationWorkunit = z.infer<typeof ValidationWorkunitSchema>;

/** A host's results in one batch. */
export const HostValidationSchema = z.object({
  hostId: Id,
  hostName: z.string().nullable(),
  results: Count,
  valid: Count,
  invalid: Count,
  errors: Count,
  invalidRate: z.number(),
  errorRate: z.number(),
});
export type HostValidation = z.infer<typeof HostValidationSchema>;

/** `GET /batches/:id/validation`. */
export const ValidationViewSchema = z.object({
  workunits: z.array(ValidationWorkunitSchema),
  next: z.number().int().nullable(),
  hosts: z.array(HostValidationSchema),
});
export type ValidationView = z.infer<typeof ValidationViewSchema>;

// ---- hosts and leaderboards ----

/** What a volunteer said it runs on (the protocol's Platform, read leniently). */
export const HostPlatformSchema = z.object({
  kind: z.enum(['node', 'browser']),
  engine: z.string().optional(),
  os: z.string().optional(),
  arch: z.string().optional(),
});
export type HostPlatform = z.infer<typeof HostPlatformSchema>;

export const HostSchema = z.object({
  id: Id,
  name: z.string().nullable(),
  userName: z.string(),
  teamName: z.string().nullable(),
  platform: HostPlatformSchema,
  online: z.boolean(),
  lastSeenAt: Millis,
  tasksDone: Count,
  nValid: Count,
  nInvalid: Count,
  nError: Count,
  totalCredit: z.number(),
  rac: z.number(),
  consecutiveValid: Count,
  /** Results to sentinels (work units with a known answer) that were right and wrong. */
  sentinelsPassed: Count,
  sentinelsFailed: Count,
  /** Since when the host is distrusted (it answered a sentinel wrongly): it gets only sentinels. */
  distrustedAt: Millis.nullable(),
  trusted: z.boolean(),
});
export type Host = z.infer<typeof HostSchema>;

/** `GET /hosts`: `online` counts every connected host, whatever the page holds. */
export const HostListSchema = z.object({ online: Count, hosts: z.array(HostSchema) });
export type HostList = z.infer<typeof HostListSchema>;

export const LeaderboardKindSchema = z.enum(['users', 'teams', 'hosts']);
export type LeaderboardKind = z.infer<typeof LeaderboardKindSchema>;

/** `team` is the user's (or host owner's) team; null for teams themselves. */
export const LeaderboardEntrySchema = z.object({
  rank: z.number().int().positive(),
  id: Id,
  name: z.string().nullable(),
  team: z.string().nullable(),
  totalCredit: z.number(),
  rac: z.number(),
});
export type LeaderboardEntry = z.infer<typeof LeaderboardEntrySchema>;

export const LeaderboardSchema = z.object({ kind: LeaderboardKindSchema, entries: z.array(LeaderboardEntrySchema) });
export type Leaderboard = z.infer<typeof LeaderboardSchema>;

// ---- public, read-only: the project list and the stats export (no login) ----

/** An app as the public sees it: on which kinds of volunteer a task of it can run now. */
export const PublicAppSchema = z.object({
  name: z.string(),
  /** From its versions that may be sent (not retired, not broken); empty: none can run anywhere now. */
  platforms: z.array(z.enum(['node', 'browser'])),
});
export type PublicApp = z.infer<typeof PublicAppSchema>;

export const PublicProjectSchema = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  /** The owning researcher's name; null for a project made before owners existed. */
  owner: z.string().nullable(),
  apps: z.array(PublicAppSchema),
  /** Work units of its batches that are neither cancelled nor archived. */
  progress: z.object({ batches: Count, done: Count, failed: Count, total: Count }),
  /** Active, with tasks waiting to be sent now. */
  hasWork: z.boolean(),
});
export type PublicProject = z.infer<typeof PublicProjectSchema>;

/** `GET /public/projects?after=&limit=`, by id; `next` is the `after` of the next page, null at the end. */
export const PublicProjectListSchema = z.object({ projects: z.array(PublicProjectSchema), next: Id.nullable() });
export type PublicProjectList = z.infer<typeof PublicProjectListSchema>;

export const StatsKindSchema = z.enum(['users', 'teams', 'hosts']);
export type StatsKind = z.infer<typeof StatsKindSchema>;

/** Credit of a holder as the stats export gives it: BOINC's total_credit, expavg_credit and expavg_time. */
const StatsCredit = { totalCredit: z.number(), rac: z.number(), racTime: z.number().int().nonnegative() };

export const StatsUserSchema = z.object({ id: Id, name: z.string(), teamId: Id.nullable(), createdAt: z.number().int(), ...StatsCredit });
export type StatsUser = z.infer<typeof StatsUserSchema>;
export const StatsTeamSchema = z.object({ id: Id, name: z.string(), createdAt: z.number().int(), ...StatsCredit });
export type StatsTeam = z.infer<typeof StatsTeamSchema>;
export const StatsHostSchema = z.object({
  id: Id,
  userId: Id,
  createdAt: z.number().int(),
  lastSeenAt: z.number().int(),
  platform: z.object({ kind: z.enum(['node', 'browser']), engine: z.string().optional(), os: z.string().optional(), arch: z.string().optional() }),
  cores: z.number().int().nullable(),
  ...StatsCredit,
});
export type StatsHost = z.infer<typeof StatsHostSchema>;

/** `GET /public/stats`: what the export holds and where. */
export const StatsIndexSchema = z.object({
  generatedAt: z.number().int(),
  racHalfLifeMs: z.number().int().positive(),
  counts: z.object({ users: Count, teams: Count, hosts: Count }),
  files: z.record(z.string(), z.string()),
});
export type StatsIndex = z.infer<typeof StatsIndexSchema>;

// ---- the /admin Socket.IO namespace ----

/** The ack of `batch.watch`. */
export const WatchAckSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), status: BatchStatusSchema }),
  z.object({ ok: z.literal(false), error: ApiErrorDetailSchema }),
]);
export type WatchAck = z.infer<typeof WatchAckSchema>;

/** The ack of `batch.unwatch`. */
export const UnwatchAckSchema = z.object({ ok: z.literal(true) });
export type UnwatchAck = z.infer<typeof UnwatchAckSchema>;
