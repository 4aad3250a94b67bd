// A volunteer's project preferences as the scheduler applies them: which projects may send this
// host new work, and which project its next task should come from so that, over time, each
// project gets its resource share of the host. Pure: no store, no clock.
//
// The share rule is BOINC's client-side one, decided here because one coordinator serves many
// projects: each project has a decayed sum of the work (estimated floating-point operations) it
// sent this host recently (its "recent work"; see `decayWork`), and the next task comes from
// the eligible project with work whose recent work per unit of share is lowest, i.e. the one
// furthest below its share. Within a project the queue's order (priority, then age) stands.
// A project of share 0 gets work only when no project of a positive share has any for this host.
import { DEFAULT_SHARE } from '../../protocol/limits.js';
import type { VolunteerPreferences } from '../../protocol/messages.js';

/** Preferences with project names resolved to ids; names no project has are left out. */
export interface ResolvedPreferences {
  onlyListed: boolean;
  listed: Map<number, { share: number; noNewTasks: boolean }>;
}

/** Recent work halves every day: a changed share shows within a day or two. */
export const RECENT_WORK_HALF_LIFE_MS = 24 * 3600_000;

/** Resolves names with `idOfName`; a name listed twice counts as its first entry. Unknown names are ignored. */
export function resolvePreferences(prefs: VolunteerPreferences, idOfName: (name: string) => number | undefined): ResolvedPreferences {
  const listed = new Map<number, { share: number; noNewTasks: boolean }>();
  for (const p of prefs.projects ?? []) {
    const id = idOfName(p.project);
    if (id === undefined || listed.has(id)) continue;
    listed.set(id, { share: p.share ?? DEFAULT_SHARE, noNewTasks: p.noNewTasks ?? false });
  }
  return { onlyListed: prefs.onlyListed ?? false, listed };
}

/** Whether a project may send this host new work of any kind (regular, sentinel or check). */
export function projectAllowed(prefs: ResolvedPreferences, projectId: number): boolean {
  const p = prefs.listed.get(projectId);
  if (!p) return !prefs.onlyListed;
  return !p.noNewTasks;
}

export function shareOf(prefs: ResolvedPreferences, projectId: number): number {
  return prefs.listed.get(projectId)?.share ?? DEFAULT_SHARE;
}

/**
 * The allowed projects among `projectIds`, the one the next task should come from first:
 * positive shares by recent work per share, lowest first, then share 0 by recent work; ties by id.
 * `work` is each project's recent work on this host, including what this round already took.
 */
export function projectOrder(prefs: ResolvedPreferences, projectIds: Iterable<number>, work: ReadonlyMap<number, number>): number[] {
  const ranked = [...new Set(projectIds)]
    .filter((id) => projectAllowed(prefs, id))
    .map((id) => {
      const share = shareOf(prefs, id);
      const used = work.get(id) ?? 0;
      return { id, zero: share === 0, key: share === 0 ? used : used / share };
    });
  ranked.sort((a, b) => Number(a.zero) - Number(b.zero) || a.key - b.key || a.id - b.id);
  return ranked.map((r) => r.id);
}

/** Recent work `halfLifeMs` after it was `work` at `since`; never grows back, whatever the clock did. */
export function decayWork(work: number, since: number, now: number, halfLifeMs = RECENT_WORK_HALF_LIFE_MS): number {
  const elapsed = Math.max(0, now - since);
  return work * 2 ** (-elapsed / halfLifeMs);
}
