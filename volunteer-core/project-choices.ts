// The volunteer's choices of projects (compute for it or not, its resource share, no new tasks,
// suspended here) as the `preferences` of every tasks.request (docs/protocol.md, "Project
// preferences"). Suspending is the volunteer's own business: the coordinator is not told.
import { DEFAULT_SHARE, MAX_PREFERENCE_PROJECTS, MAX_SHARE } from '../protocol/limits.js';
import type { ProjectPreference, VolunteerPreferences } from '../protocol/messages.js';

export interface ProjectChoice {
  /** Compute for it (false: no new tasks of it; with newProjects off, it is left out). */
  enabled: boolean;
  /** 0..MAX_SHARE. */
  share: number;
  noNewTasks: boolean;
  /** Its tasks are held here (the coordinator is not told). */
  suspended: boolean;
}

export const defaultChoice = (): ProjectChoice => ({ enabled: true, share: DEFAULT_SHARE, noNewTasks: false, suspended: false });

/**
 * The preferences to send. `newProjects`: projects the volunteer has not chosen for yet get work
 * too (onlyListed false); off, only the enabled projects listed here do. Undefined when there is
 * nothing to say (every project at the default share): the request is then as a client without
 * preferences sends it.
 */
export function preferencesFor(choices: Readonly<Record<string, ProjectChoice>>, newProjects: boolean): VolunteerPreferences | undefined {
  const listed: ProjectPreference[] = [];
  for (const [project, c] of Object.entries(choices).sort(([a], [b]) => a.localeCompare(b))) {
    const share = Math.min(MAX_SHARE, Math.max(0, Math.round(c.share)));
    if (!c.enabled) {
      // Left out of an onlyListed list; else named with no new tasks.
      if (newProjects) listed.push({ project, noNewTasks: true });
      continue;
    }
    if (newProjects && share === DEFAULT_SHARE && !c.noNewTasks) continue; // as if not listed
    listed.push({ project, ...(share === DEFAULT_SHARE ? {} : { share }), ...(c.noNewTasks ? { noNewTasks: true } : {}) });
  }
  if (newProjects && listed.length === 0) return undefined;
  // Past the protocol's limit: the enabled projects first (an onlyListed list must name them).
  const kept = [...listed.filter((p) => !p.noNewTasks), ...listed.filter((p) => p.noNewTasks)].slice(0, MAX_PREFERENCE_PROJECTS);
  return { projects: kept, ...(newProjects ? {} : { onlyListed: true }) };
}
