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
/** Work units whose replicas are read to tell why the connected hosts may not take a batch's work. */
const WORKUNITS_TO_EXPLAIN = 8;

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
  /**
   * When no connected host may take it: how many of them have a result of the waiting work units
   * (`computed`), and how many only errors there (`failed`, with the latest), so a host the app
   * failed on is not said to have computed it. Undefined when not worked out.
   */
  excluded?: { computed: number; failed: number; error: { code: string; message: string } | undefined };
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
  if (waiting && f.onlineHosts > 0 && f.takers === 0) reasons.push({ code: 'no_eligible_hosts', message: noEligibleHosts(f.onlineHosts, f.excluded) });
  if (f.replicas.success === 0 && f.replicas.clientError >= FAILING_AFTER && f.topError) {
    reasons.push({
      code: 'all_failing',
      message: `every attempt so far failed (${f.replicas.clientError}); most often ${f.topError.code} (${f.topError.count}): ${f.topError.message}`,
    });
  }
  return reasons;
}

/**
 * Why none of the connected hosts may take the work. A host is not sent a work unit again once it
 * returned a result or an error for it, so one the app failed on is as excluded as one that
 * computed it; but it did not compute it, and the remedy is another.
 */
function noEligibleHosts(online: number, excluded: BlockFacts['excluded']): string {
  const head = `none of the ${online} connected volunteer${online === 1 ? '' : 's'} may take what is left`;
  const { computed = 0, failed = 0, error } = excluded ?? {};
  if (failed > 0 && computed === 0) {
    const failure = error ? ` (${error.code}: ${error.message})` : '';
    const on = failed === online ? (online === 1 ? 'it' : 'each of them') : `${failed} of them`;
    return (
      `${head}: the app failed on ${on}${failure}, and a work unit is not sent again to a volunteer it failed on. ` +
      'Upload a fixed version, then cancel this batch and submit it again; or it needs more volunteers'
    );
  }
  const failedToo = failed > 0 ? `, had the app fail on it (${failed} of them${error ? `: ${error.code}: ${error.message}` : ''}),` : '';
  return `${head}: each has computed it already (a quorum needs distinct hosts and users)${failedToo} or runs no version of the app for its platform; it needs more volunteers`;
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
  let excluded: BlockFacts['excluded'];
  if (waiting && onlineHostIds.size > 0 && onlineHostIds.size <= MAX_HOSTS_TO_TRY) {
    const candidates = await store.work.batchCandidates(batch.id, CANDIDATES_TO_TRY);
    takers = 0;
    for (const id of onlineHostIds) if (await couldTake(id, candidates)) takers++;
    if (takers === 0) excluded = await whatExcludedDid(store, candidates, onlineHostIds);
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
    excluded,
    topError,
  });
}

/** What the connected hosts did with the first few waiting work units: computed them, or only failed. */
async function whatExcludedDid(store: Repositories, candidates: Candidate[], onlineHostIds: Set<number>): Promise<BlockFacts['excluded']> {
  const computed = new Set<number>();
  const failedOn = new Map<number, { at: number; code: string; message: string }>();
  for (const workunitId of [...new Set(candidates.map((c) => c.workunitId))].slice(0, WORKUNITS_TO_EXPLAIN)) {
    for (const r of await store.reports.replicas(workunitId)) {
      if (r.hostId === null || !onlineHostIds.has(r.hostId)) continue;
      if (r.outcome === 'success') computed.add(r.hostId);
      else if (r.outcome === 'client_error' && r.error) {
        const at = r.receivedAt ?? 0;
        if ((failedOn.get(r.hostId)?.at ?? -1) < at) failedOn.set(r.hostId, { at, ...r.error });
      }
    }
  }
  const failed = [...failedOn].filter(([hostId]) => !computed.has(hostId)).map(([, e]) => e);
  const latest = failed.sort((a, b) => b.at - a.at)[0];
  return { computed: computed.size, failed: failed.length, error: latest && { code: latest.code, message: latest.message } };
}
