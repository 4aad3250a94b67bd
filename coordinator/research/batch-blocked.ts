// Why an open batch cannot move: its project is paused, its app's newest version is broken, no
// volunteer is connected, none of those connected may take what is left, or every attempt fails.
// The facts are read here; `blockedReasons` decides, pure.
import type { BlockedReason, ReplicaCounts } from '../../protocol/api.js';
import type { BatchRow } from '../store/report-store.js';
import type { Repositories } from '../store/store.js';
import type { Candidate } from '../store/work-store.js';

/** Errors with no success at all, this many or more: every attempt fails. */
const FAILING_AFTER = 5;
/** Above this many connected hosts, whether one may take the batch's work is not worked out. */
const MAX_HOSTS_TO_TRY = 64;
const CANDIDATES_TO_TRY = 50;

export interface BlockFacts {
  open: number;
  projectPaused: boolean;
  /** The versions its tasks may go out with, newest first (retired ones left out), with why each is broken (null: it works); the first is what is sent. */
  versions: { version: number; broken: string | null }[];
  /** It is pinned to one version. */
  pinned: boolean;
  replicas: Pick<ReplicaCounts, 'unsent' | 'inProgress' | 'success' | 'clientError'>;
  onlineHosts: number;
  /** Connected hosts that may take some of its remaining work; undefined when not worked out. */
  takers: number | undefined;
  /** The most common error and the latest message of it, when there are errors. */
  topError: { code: string; count: number; message: string } | undefined;
}

export function blockedReasons(f: BlockFacts): BlockedReason[] {
  if (f.open === 0) return [];
  const reasons: BlockedReason[] = [];
  if (f.projectPaused) reasons.push({ code: 'project_paused', message: 'the project is paused: no task of it is sent until it is resumed' });
  const newest = f.versions[0];
  if (!newest) reasons.push({ code: 'no_version', message: f.pinned ? `its pinned version is retired: pin another, or none` : 'every version of the app is retired: bring one back, or upload one' });
  if (newest?.broken) {
    reasons.push({
      code: 'app_broken',
      message: `app version ${newest.version} is broken — ${newest.broken}. Upload a fixed version; then retry the failed work units`,
    });
  }
  const waiting = f.replicas.unsent > 0 && f.replicas.inProgress === 0;
  if (waiting && f.onlineHosts === 0) reasons.push({ code: 'no_hosts', message: 'no volunteer is connected: the work waits for one' });
  if (waiting && f.onlineHosts > 0 && f.takers === 0) {
    reasons.push({
      code: 'no_eligible_hosts',
      message:
        `none of the ${f.onlineHosts} connected volunteer${f.onlineHosts === 1 ? '' : 's'} may take what is left: each has computed it already ` +
        '(a quorum needs distinct hosts and users) or runs no version of the app for its platform; it needs more volunteers',
    });
  }
  if (f.replicas.success === 0 && f.replicas.clientError >= FAILING_AFTER && f.topError) {
    reasons.push({
      code: 'all_failing',
      message: `every attempt so far failed (${f.replicas.clientError}); most often ${f.topError.code} (${f.topError.count}): ${f.topError.message}`,
    });
  }
  return reasons;
}

/** Reads the facts for a batch. `couldTake` says whether a connected host may take one of some replicas. */
export async function batchBlockage(
  store: Repositories,
  batch: BatchRow,
  open: number,
  replicas: ReplicaCounts,
  onlineHostIds: Set<number>,
  couldTake: (hostId: number, candidates: Candidate[]) => Promise<boolean>,
): Promise<BlockedReason[]> {
  if (open === 0) return [];
  const waiting = replicas.unsent > 0 && replicas.inProgress === 0;
  let takers: number | undefined;
  if (waiting && onlineHostIds.size > 0 && onlineHostIds.size <= MAX_HOSTS_TO_TRY) {
    const candidates = await store.work.batchCandidates(batch.id, CANDIDATES_TO_TRY);
    takers = 0;
    for (const id of onlineHostIds) if (await couldTake(id, candidates)) takers++;
  }
  let topError: BlockFacts['topError'];
  if (replicas.success === 0 && replicas.clientError > 0) {
    const [code, count] = Object.entries(await store.reports.errorCodes(batch.id)).sort((a, b) => b[1] - a[1])[0] ?? [];
    const latest = (await store.reports.errors(batch.id, 20)).find((e) => e.code === code);
    if (code !== undefined && count !== undefined) topError = { code, count, message: latest?.message ?? '' };
  }
  return blockedReasons({
    open,
    projectPaused: batch.projectPaused,
    versions: (await store.catalog.versionsOfApp(batch.appId))
      .filter((v) => v.retiredAt === null && (batch.pinnedVersionId === null || v.id === batch.pinnedVersionId))
      .map((v) => ({ version: v.version, broken: v.broken?.reason ?? null })),
    pinned: batch.pinnedVersionId !== null,
    replicas,
    onlineHosts: onlineHostIds.size,
    takers,
    topError,
  });
}
