// The shapes of the coordinator's REST API (docs/api.md), as the UI reads them.

export type Role = 'researcher' | 'admin';

export interface Account {
  id: number;
  name: string;
  role: Role;
}

export interface Session {
  account: Account;
  csrfToken: string | null;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

export interface ApiToken {
  id: number;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface CreatedToken extends ApiToken {
  token: string;
}

export interface Researcher {
  id: number;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: number;
}

export interface CreatedResearcher {
  account: Researcher;
  password?: string;
}

export interface WorkunitCounts {
  active: number;
  done: number;
  failed: number;
  cancelled: number;
}

export type ProjectStatus = 'active' | 'paused';

export interface Project {
  id: number;
  name: string;
  description: string;
  status: ProjectStatus;
  ownerId: number | null;
  ownerName: string | null;
  createdAt: number;
  workunits: WorkunitCounts;
}

/** A batch as the project page lists it (the full status comes from /batches). */
export interface BatchSummary {
  id: number;
  name: string;
  appId: number;
  appName: string;
  workunits: number;
  cancelled: boolean;
  createdAt: number;
}

export interface ProjectDetail extends Project {
  apps: App[];
  batches: BatchSummary[];
}

export type Validation = { mode: 'exact' } | { mode: 'tolerance'; absEpsilon: number; relEpsilon: number };

export type Platform = 'any' | 'node' | 'browser';

export interface AppFileInfo {
  name: string;
  sha256: string;
  size: number;
}

export interface AppVersion {
  id: number;
  appId: number;
  version: number;
  platform: Platform;
  requirements: Record<string, unknown>;
  bundleHash: string;
  signature: string;
  entry?: string;
  files: AppFileInfo[];
  createdAt: number;
}

export interface App {
  id: number;
  projectId: number;
  name: string;
  validation: Validation;
  homogeneousRedundancy: boolean;
  adaptiveReplication: boolean;
  createdAt: number;
  versions: AppVersion[];
}

export interface Replication {
  minQuorum: number;
  targetNresults: number;
  maxErrorResults: number;
  maxTotalResults: number;
  maxSuccessResults: number;
  delayBoundMs: number;
  fpopsEst: number;
  priority: number;
}

export const DEFAULT_REPLICATION: Replication = {
  minQuorum: 2,
  targetNresults: 2,
  maxErrorResults: 3,
  maxTotalResults: 8,
  maxSuccessResults: 6,
  delayBoundMs: 86_400_000,
  fpopsEst: 1e10,
  priority: 0,
};

export type BatchState = 'active' | 'done' | 'cancelled';

export interface ReplicaCounts {
  unsent: number;
  inProgress: number;
  success: number;
  clientError: number;
  noReply: number;
  aborted: number;
  abandoned: number;
  notNeeded: number;
}

export interface SeriesPoint {
  t: number;
  done: number;
  failed: number;
}

export interface BatchStatus {
  id: number;
  projectId: number;
  projectName: string;
  appId: number;
  appName: string;
  name: string;
  clientKey: string | null;
  status: BatchState;
  createdAt: number;
  finishedAt: number | null;
  workunits: WorkunitCounts & { total: number };
  replicas: ReplicaCounts;
  throughput: { workunitsPerSecond: number; windowMs: number };
  etaMs: number | null;
  series: { bucketMs: number; points: SeriesPoint[] };
}

export interface SubmittedBatch {
  batchId: number;
  created: boolean;
  workunits: number;
}

export type WorkunitState = 'active' | 'done' | 'failed' | 'cancelled';

export interface WorkunitRow {
  id: number;
  seq: number;
  status: WorkunitState;
  errorReason: string | null;
  finishedAt: number | null;
}

export interface WorkunitPage {
  workunits: WorkunitRow[];
  next: number | null;
}

export interface ReplicaDetail {
  id: number;
  hostId: number | null;
  hostName: string | null;
  userName: string | null;
  status: string;
  outcome: string | null;
  validateState: string | null;
  sentAt: number | null;
  deadline: number | null;
  receivedAt: number | null;
  cpuTimeMs: number | null;
  elapsedMs: number | null;
  credit: number | null;
  outputHash: string | null;
  /** null when not stored inline (over 256 KiB) or not returned yet. */
  output: unknown;
  error: ApiErrorBody | null;
}

export interface WorkunitDetail extends Partial<Replication> {
  id: number;
  batchId: number;
  seq: number;
  status: WorkunitState;
  input: unknown;
  errorReason: string | null;
  canonicalReplicaId: number | null;
  replicas: ReplicaDetail[];
}

export interface BatchError {
  replicaId: number;
  workunitId: number;
  seq: number;
  hostId: number | null;
  hostName: string | null;
  code: string;
  message: string;
  at: number | null;
}

export interface BatchErrors {
  byCode: Record<string, number>;
  errors: BatchError[];
}

export interface ValidationReplica {
  replicaId: number;
  hostId: number | null;
  hostName: string | null;
  validateState: string | null;
}

export interface ValidationGroup {
  outputHash: string;
  replicas: ValidationReplica[];
  canonical: boolean;
  /** null when the output is not stored inline. */
  output: unknown;
}

export interface ValidationWorkunit {
  id: number;
  seq: number;
  status: WorkunitState;
  minQuorum: number;
  errorReason?: string | null;
  groups: ValidationGroup[];
  errors?: { replicaId: number; hostId: number | null; hostName: string | null; code: string; message: string }[];
}

export interface HostValidation {
  hostId: number;
  hostName: string | null;
  results: number;
  valid: number;
  invalid: number;
  errors: number;
  invalidRate: number;
  errorRate: number;
}

export interface BatchValidation {
  workunits: ValidationWorkunit[];
  next?: number | null;
  hosts: HostValidation[];
}

/** What a volunteer says it runs on. */
export interface HostPlatform {
  kind: 'node' | 'browser';
  engine?: string;
  os?: string;
  arch?: string;
}

export interface Host {
  id: number;
  name: string | null;
  userName: string | null;
  teamName: string | null;
  platform: HostPlatform | string;
  online: boolean;
  lastSeenAt: number | null;
  tasksDone: number;
  nValid: number;
  nInvalid: number;
  nError: number;
  totalCredit: number;
  rac: number;
  consecutiveValid: number;
  trusted: boolean;
}

export interface HostList {
  online: number;
  hosts: Host[];
}

export type LeaderboardKind = 'users' | 'teams' | 'hosts';

export interface LeaderboardEntry {
  rank: number;
  id: number;
  name: string | null;
  team?: string | null;
  totalCredit: number;
  rac: number;
}

export interface Leaderboard {
  kind: LeaderboardKind;
  entries: LeaderboardEntry[];
}

/** The ack of `batch.watch` on the /admin namespace. */
export type WatchAck = { ok: true; status: BatchStatus } | { ok: false; error: ApiErrorBody };
