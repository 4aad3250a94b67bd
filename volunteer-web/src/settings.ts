// The volunteer's choices, kept in localStorage so they survive reloads: whether it computes,
// how many cores, the CPU duty cycle, when to pause (battery, hidden tab, the schedule), how much
// storage apps may use, and who it is on the leaderboards.
import { z } from 'zod';
import { DEFAULT_SHARE, MAX_SHARE } from '../../protocol/limits.js';

export const MAX_CORES = Math.max(1, navigator.hardwareConcurrency || 1);
export const DEFAULT_CORES = Math.max(1, Math.floor(MAX_CORES / 2));

const SettingsSchema = z.object({
  /** The volunteer pressed Start (and not Pause since). */
  running: z.boolean().catch(false),
  /** The volunteer started at least once: from then on the page connects when it opens. */
  joined: z.boolean().catch(false),
  cores: z.number().int().min(1).max(MAX_CORES).catch(DEFAULT_CORES),
  /** Share of the time each worker computes, in %. */
  dutyPercent: z.number().int().min(10).max(100).catch(100),
  pauseOnBattery: z.boolean().catch(true),
  pauseWhenHidden: z.boolean().catch(false),
  /** volunteer-core/schedule.ts: always, only in the hours from–to (local time), or only when idle. */
  scheduleMode: z.enum(['always', 'hours', 'idle']).catch('always'),
  fromHour: z.number().int().min(0).max(23).catch(22),
  toHour: z.number().int().min(0).max(23).catch(7),
  /** volunteer-core/project-choices.ts: per project (by name), and whether projects not chosen yet get work. */
  projects: z
    .record(
      z.string().max(200),
      z.object({ enabled: z.boolean().catch(true), share: z.number().int().min(0).max(MAX_SHARE).catch(DEFAULT_SHARE), noNewTasks: z.boolean().catch(false), suspended: z.boolean().catch(false) }),
    )
    .catch({}),
  newProjects: z.boolean().catch(true),
  /** Minutes without input before computing (the page offers whole minutes; tests use less). */
  idleMinutes: z.number().min(0.05).max(24 * 60).catch(5),
  /** Shown on the leaderboards (hello.name and the account's name). */
  nickname: z.string().max(64).catch(''),
  team: z.string().max(64).catch(''),
  /** From POST /api/v1/accounts: links this browser's host to an account (secret). */
  accountKey: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/).optional().catch(undefined),
  /** Computing time one task may take before it is stopped as cpu_limit. */
  maxTaskMinutes: z.number().min(0.01).max(24 * 60).catch(60),
  /** IndexedDB for cached app versions, app files and inputs; least recently used go first. */
  maxDiskMb: z.number().min(1).max(1 << 20).catch(512),
  /** The largest checkpoint a task may write, and all one run of a task may write. */
  maxCheckpointMb: z.number().min(0.001).max(1024).catch(16),
  maxCheckpointTotalMb: z.number().min(0.001).max(1 << 20).catch(1024),
});

export const MB = 1024 * 1024;
export type Settings = z.infer<typeof SettingsSchema>;

const KEY = 'volunteer-grid.settings';

export function loadSettings(): Settings {
  let stored: unknown = {};
  try {
    stored = JSON.parse(localStorage.getItem(KEY) ?? '{}');
  } catch {
    // unreadable: start from the defaults
  }
  return SettingsSchema.parse(typeof stored === 'object' && stored !== null ? stored : {});
}

export function saveSettings(s: Settings): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // storage full or disabled: the choice holds for this visit
  }
}
