// Every message of the volunteer protocol, as zod schemas (the one validation at each edge)
// and the TypeScript types inferred from them. docs/protocol.md is the prose twin of this file.
import { z } from 'zod';
import { MANIFEST_KINDS } from './app-kind.js';
import {
  MAX_APP_FILES,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_LOG_LINE_CHARS,
  MAX_MEASURED_MS,
  MAX_PREFERENCE_PROJECTS,
  MAX_SHARE,
  MAX_RESULT_LOG_CHARS,
  MAX_RESULT_LOG_LINES,
  MAX_RESULTS_PER_REPORT,
  MAX_TASKS_HELD,
  MAX_TASKS_PER_REQUEST,
  MAX_VERDICTS_PER_REQUEST,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './limits.js';

export const Hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
export const Hex64 = z.string().regex(/^[0-9a-f]{128}$/, 'expected 128 lower-case hex digits');
const Id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const Millis = z.number().int().nonnegative().max(8.64e15);
const ShortText = (max: number) => z.string().min(1).max(max);

/** Any JSON value; inputs and outputs are validated deeper by canonical encoding. */
export const JsonValueSchema = z.json();

/** A flat file name inside an app version: no directories, so no traversal. */
export const FileName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, 'file names are 1-128 characters of A-Z a-z 0-9 . _ - and start with a letter, digit or _');

// ---- identity ----

export const PlatformSchema = z.strictObject({
  kind: z.enum(['node', 'browser']),
  /** JavaScript engine or browser family, e.g. "v8", "chromium", "firefox", "webkit". */
  engine: ShortText(32).optional(),
  os: ShortText(32).optional(),
  arch: ShortText(32).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const CapabilitiesSchema = z.strictObject({
  cores: z.number().int().min(1).max(4096).optional(),
  memoryMb: z.number().int().min(1).max(1 << 24).optional(),
  wasm: z.boolean().optional(),
  features: z.array(ShortText(32)).max(32).optional(),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

export const HelloSchema = z.strictObject({
  protocol: z.literal(SUPPORTED_PROTOCOL_VERSIONS),
  hostKey: Hex32,
  platform: PlatformSchema,
  capabilities: CapabilitiesSchema.default({}),
  name: ShortText(64).optional(),
  /** Secret that links this host to a user account, so credit adds up across machines. */
  accountKey: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/).optional(),
});
export type Hello = z.infer<typeof HelloSchema>;

/** Signed by the host key (domain "auth"): proves the host holds the key it named in hello. */
export const AuthProofSchema = z.strictObject({
  nonce: Hex32,
  hostKey: Hex32,
  coordinatorKey: Hex32,
});
export type AuthProof = z.infer<typeof AuthProofSchema>;

export const AuthSchema = z.strictObject({ signature: Hex64 });

// ---- tasks ----

/** What the volunteer wants of one project, named as tasks name it (`project`). */
export const ProjectPreferenceSchema = z.strictObject({
  project: ShortText(200),
  /** Resource share against the other projects on this host (default 100); 0: only when no other project has work. */
  share: z.number().int().min(0).max(MAX_SHARE).optional(),
  /** Send no new tasks of this project (tasks already held stay, and lost ones are still sent again). */
  noNewTasks: z.boolean().optional(),
});
export type ProjectPreference = z.infer<typeof ProjectPreferenceSchema>;

/**
 * The volunteer's project preferences, sent with every tasks.request (nothing is kept between
 * requests, so they hold across reconnects and on whichever coordinator instance answers).
 */
export const VolunteerPreferencesSchema = z.strictObject({
  projects: z.array(ProjectPreferenceSchema).max(MAX_PREFERENCE_PROJECTS).optional(),
  /** Only projects listed in `projects` (default false: every project, at the default share unless listed). */
  onlyListed: z.boolean().optional(),
});
export type VolunteerPreferences = z.infer<typeof VolunteerPreferencesSchema>;

export const TasksRequestSchema = z.strictObject({
  count: z.number().int().min(1).max(MAX_TASKS_PER_REQUEST),
  /**
   * Ids of the tasks the host holds (running or finished but unreported). When given, tasks
   * the coordinator assigned to this host but the host does not list are sent again first.
   */
  holding: z.array(Id).max(MAX_TASKS_HELD).optional(),
  /** Which projects to compute for, and their resource shares; absent: every project, as the queue comes. */
  preferences: VolunteerPreferencesSchema.optional(),
});
export type TasksRequest = z.infer<typeof TasksRequestSchema>;

/** Apps a `daily` limit names at most. */
export const MAX_LIMITED_APPS = 16;

/**
 * Why a tasks.request reply has fewer tasks than asked for, when it is this host's own quota
 * (absent otherwise: no work for it, or nothing to say). Only what the host could work out from
 * the tasks it was sent, the results it reported and the documented quota rules: its limits never
 * depend on anything it is not told. Objects are not strict: a later coordinator may say more.
 */
export const TaskLimitSchema = z.discriminatedUnion('by', [
  z.object({
    /** The host holds all the tasks it may have in flight; each valid result doubles that. */
    by: z.literal('in_flight'),
    /** Tasks the host holds once this reply's are counted. */
    held: z.number().int().nonnegative(),
    /** Tasks it may hold at once now. */
    allowed: z.number().int().positive(),
  }),
  z.object({
    /** The apps that have work for this host took all the tasks it may take of them today. */
    by: z.literal('daily'),
    apps: z
      .array(z.object({ project: ShortText(200), app: ShortText(200), allowed: z.number().int().positive(), used: z.number().int().nonnegative() }))
      .min(1)
      .max(MAX_LIMITED_APPS),
    /** When the quota day ends and the counts start again (00:00 UTC). */
    resetsAt: Millis,
  }),
]);
export type TaskLimit = z.infer<typeof TaskLimitSchema>;

/** The fields of a task that the coordinator signs (domain "task"). */
export const TaskBodySchema = z.strictObject({
  taskId: Id,
  workunitId: Id,
  hostKey: Hex32,
  appVersionHash: Hex32,
  /** SHA-256 of the input's canonical JSON; when `input` is absent, GET /files/{inputHash}. */
  inputHash: Hex32,
  deadline: Millis,
  /** Seed of ctx.random(): the same for every replica of a work unit. */
  rngSeed: Hex32,
  fpopsEst: z.number().positive(),
  issuedAt: Millis,
});
export type TaskBody = z.infer<typeof TaskBodySchema>;

/** A task as protocol 3 sends it: signed through its reply's task list, not on its own. */
export const UnsignedTaskSchema = TaskBodySchema.extend({
  input: JsonValueSchema.optional(),
  /** Display only, not signed: what the volunteer is computing for. */
  project: ShortText(200),
  app: ShortText(200),
});
export type UnsignedTask = z.infer<typeof UnsignedTaskSchema>;

/** A task as protocol 2 sends it: with the coordinator's signature of its own (domain "task"). */
export const TaskSchema = UnsignedTaskSchema.extend({ signature: Hex64 });
export type Task = z.infer<typeof TaskSchema>;

/**
 * Signed by the coordinator (domain "taskList"), protocol 3: the tasks of one tasks.request reply,
 * each by the hash of its signed fields (jsonHash(taskBody)), in the reply's order, for one host.
 */
export const TaskListBodySchema = z.strictObject({
  hostKey: Hex32,
  taskHashes: z.array(Hex32).min(1).max(MAX_TASKS_PER_REQUEST),
});
export type TaskListBody = z.infer<typeof TaskListBodySchema>;
export const SignedTaskListSchema = TaskListBodySchema.extend({ signature: Hex64 });
export type SignedTaskList = z.infer<typeof SignedTaskListSchema>;

export const ProgressSchema = z.strictObject({
  updates: z
    .array(z.strictObject({ taskId: Id, fraction: z.number().min(0).max(1) }))
    .min(1)
    .max(MAX_TASKS_PER_REQUEST),
});

export const GiveBackSchema = z.strictObject({
  taskIds: z.array(Id).min(1).max(MAX_TASKS_PER_REQUEST),
  reason: ShortText(200),
});

// ---- results ----

export const ResultErrorSchema = z.strictObject({
  code: ShortText(64),
  message: z.string().max(MAX_ERROR_MESSAGE_CHARS),
});

/** A line the app logged while it ran (its console, or ctx.log). */
export const AppLogLineSchema = z.strictObject({
  level: z.enum(['debug', 'info', 'warn', 'error']),
  text: z.string().max(MAX_LOG_LINE_CHARS),
});
export type AppLogLine = z.infer<typeof AppLogLineSchema>;

/** The fields of a result that the host signs (domain "result"). */
export const ResultBodySchema = z.strictObject({
  taskId: Id,
  workunitId: Id,
  hostKey: Hex32,
  outcome: z.enum(['success', 'error']),
  /** SHA-256 of the output's canonical JSON (success only). */
  outputHash: Hex32.optional(),
  error: ResultErrorSchema.optional(),
  /** Milliseconds, fractions allowed. */
  cpuTimeMs: z.number().nonnegative().max(MAX_MEASURED_MS),
  elapsedMs: z.number().nonnegative().max(MAX_MEASURED_MS),
  /** The last lines the app logged in the run that produced the result (absent: none). */
  log: z.array(AppLogLineSchema).min(1).max(MAX_RESULT_LOG_LINES).optional(),
  /** How many lines it logged before those, not kept. */
  logOmitted: z.number().int().positive().max(MAX_MEASURED_MS).optional(),
});
export type ResultBody = z.infer<typeof ResultBodySchema>;

/** One outcome per result, and the log within its bounds: checked on results with or without a signature. */
function refineResult(r: z.infer<typeof UnsignedResultFields>, ctx: z.RefinementCtx): void {
  // One outcome per result: a success with an error (or an error with an output) would be
  // stored as one thing and shown as the other.
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (r.outcome === 'success' && !r.outputHash) issue('outputHash', 'a success needs outputHash');
  if (r.outcome === 'success' && r.error !== undefined) issue('error', 'a success result has no error');
  if (r.outcome === 'error' && !r.error) issue('error', 'an error result needs error');
  if (r.outcome === 'error' && r.outputHash !== undefined) issue('outputHash', 'an error result has no outputHash');
  if (r.outcome === 'error' && r.output !== undefined) issue('output', 'an error result has no output');
  const logChars = (r.log ?? []).reduce((n, l) => n + l.text.length, 0);
  if (logChars > MAX_RESULT_LOG_CHARS) issue('log', `a result's log is at most ${MAX_RESULT_LOG_CHARS} characters, not ${logChars}`);
  if (r.logOmitted !== undefined && r.log === undefined) issue('logOmitted', 'logOmitted goes with a log');
}

const UnsignedResultFields = ResultBodySchema.extend({
  /** Inline output; absent when it was uploaded with PUT /files/{outputHash}. */
  output: JsonValueSchema.optional(),
});

/** A result as protocol 3 reports it: signed through its report's result list, not on its own. */
export const UnsignedResultSchema = UnsignedResultFields.superRefine(refineResult);
export type UnsignedResult = z.infer<typeof UnsignedResultSchema>;

/** A result as protocol 2 reports it: with the host's signature of its own (domain "result"). */
export const ResultSchema = UnsignedResultFields.extend({ signature: Hex64 }).superRefine(refineResult);
export type Result = z.infer<typeof ResultSchema>;

/** Protocol 2's report: each result signed on its own. */
export const ResultsReportSchema = z.strictObject({
  results: z.array(ResultSchema).min(1).max(MAX_RESULTS_PER_REPORT),
});

/**
 * Signed by the host (domain "resultList"), protocol 3: the results of one results.report, each by
 * the hash of its signed fields (jsonHash(resultBody)), in the report's order.
 */
export const ResultListBodySchema = z.strictObject({
  hostKey: Hex32,
  resultHashes: z.array(Hex32).min(1).max(MAX_RESULTS_PER_REPORT),
});
export type ResultListBody = z.infer<typeof ResultListBodySchema>;
export const SignedResultListSchema = ResultListBodySchema.extend({ signature: Hex64 });
export type SignedResultList = z.infer<typeof SignedResultListSchema>;

/** Protocol 3's report: its results and the one signature over them. */
export const ResultsReportV3Schema = z.strictObject({
  results: z.array(UnsignedResultSchema).min(1).max(MAX_RESULTS_PER_REPORT),
  resultList: SignedResultListSchema,
});

export const ResultStatusSchema = z.enum(['accepted', 'duplicate', 'rejected']);
export type ResultStatus = z.infer<typeof ResultStatusSchema>;

// ---- verdicts ----

/**
 * What came of a reported result, as its host may be told (docs/protocol.md, results.verdicts):
 * `pending` not judged (or not to be told), `valid` credited (a receipt says so), `invalid` it
 * lost its quorum vote or its credit was revoked, `error` it was an error result, `unknown` no
 * result of this host's for that id.
 */
export const RESULT_VERDICTS = ['pending', 'valid', 'invalid', 'error', 'unknown'] as const;
export const ResultVerdictSchema = z.enum(RESULT_VERDICTS);
export type ResultVerdict = z.infer<typeof ResultVerdictSchema>;

/** The host asks what came of results it reported (the catch-up path: stateless, idempotent). */
export const VerdictsRequestSchema = z.strictObject({
  taskIds: z.array(Id).min(1).max(MAX_VERDICTS_PER_REQUEST),
});

/** One task's verdict. Not strict: a later coordinator may say more. */
export const TaskVerdictSchema = z.object({ taskId: Id, verdict: ResultVerdictSchema });
export type TaskVerdict = z.infer<typeof TaskVerdictSchema>;

/** The reply: one verdict per id asked about, in the order asked. */
export const VerdictsReplySchema = z.object({ verdicts: z.array(TaskVerdictSchema).max(MAX_VERDICTS_PER_REQUEST) });

/** Pushed (`results.judged`) when results of this host were judged and it may be told at once. */
export const ResultsJudgedSchema = z.object({ verdicts: z.array(TaskVerdictSchema).min(1).max(MAX_VERDICTS_PER_REQUEST) });
export type ResultsJudged = z.infer<typeof ResultsJudgedSchema>;

// ---- credit ----

/** A ledger entry as the coordinator signs it for the host (domain "creditReceipt"). */
export const CreditReceiptBodySchema = z.strictObject({
  entryId: Id,
  taskId: Id,
  workunitId: Id,
  hostKey: Hex32,
  /** Negative: a revocation of the grant for the same taskId (its result was found invalid later). */
  amount: z.number(),
  grantedAt: Millis,
  prevHash: Hex32,
  entryHash: Hex32,
});
export type CreditReceiptBody = z.infer<typeof CreditReceiptBodySchema>;

export const CreditReceiptSchema = CreditReceiptBodySchema.extend({ signature: Hex64 });
export type CreditReceipt = z.infer<typeof CreditReceiptSchema>;

/**
 * GET /api/v1/ledger: consecutive entries and the hash the first of them links to (64 zeros
 * for entry 1), so that each page verifies on its own; null only when there are no entries.
 */
export const LedgerPageSchema = z.object({
  coordinatorKey: Hex32,
  prevHash: Hex32.nullable(),
  entries: z.array(CreditReceiptSchema),
});
export type LedgerPage = z.infer<typeof LedgerPageSchema>;

export const ReceiptsRequestSchema = z.strictObject({
  afterEntryId: z.number().int().nonnegative().default(0),
  limit: z.number().int().min(1).max(500).default(100),
});

// ---- app versions ----

export const AppFileSchema = z.strictObject({
  name: FileName,
  sha256: Hex32,
  size: z.number().int().nonnegative(),
});

/** What an app version is: its files by hash. The bundle hash is jsonHash(manifest). */
export const AppManifestSchema = z.strictObject({
  entry: FileName,
  files: z.array(AppFileSchema).min(1).max(MAX_APP_FILES),
  /** Absent for a JavaScript module (protocol/app-kind.ts): such manifests hash as they always did. */
  kind: z.enum(MANIFEST_KINDS).optional(),
});
export type AppManifest = z.infer<typeof AppManifestSchema>;

/** Signed by a host (domain "upload") to PUT a large output file: the output of one of its tasks. */
export const UploadProofSchema = z.strictObject({ hostKey: Hex32, sha256: Hex32, taskId: z.number().int().positive() });
export type UploadProof = z.infer<typeof UploadProofSchema>;

// ---- replies ----

export const ERROR_CODES = [
  'bad_request',
  'unsupported_protocol',
  'unauthenticated',
  'forbidden',
  'not_found',
  'conflict',
  'too_large',
  'rate_limited',
  'timeout',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ProtocolError {
  code: ErrorCode;
  message: string;
}

export type Reply<T extends object> = ({ ok: true } & T) | { ok: false; error: ProtocolError };

export const RESULT_REJECTIONS = [
  'bad_signature',
  'not_assigned',
  'bad_output',
  'conflict',
  'aborted',
  'workunit_finished',
] as const;
export type ResultRejection = (typeof RESULT_REJECTIONS)[number];

export interface ResultAck {
  taskId: number;
  status: ResultStatus;
  error?: { code: ResultRejection; message: string };
}

/** Server → host: stop these tasks; their results are no longer wanted. */
export interface AbortNotice {
  taskIds: number[];
  reason: string;
}
