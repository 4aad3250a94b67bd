// The owner's preferences in <data-dir>/volunteer.json (or --config FILE): which projects, their
// resource shares, no new tasks from some, only the listed ones, and the hours to compute in.
// Flags (--compute-hours, --project-shares, --only-listed-projects) override the file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { MAX_PREFERENCE_PROJECTS, MAX_SHARE } from '../protocol/limits.js';
import { ProjectPreferenceSchema, type ProjectPreference } from '../protocol/messages.js';
import { parseComputeHours } from './compute-hours.js';

export const CONFIG_FILE = 'volunteer.json';

export type { ProjectPreference };

const ComputeHoursText = z.string().superRefine((s, ctx) => {
  const parsed = parseComputeHours(s);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

export const ConfigSchema = z.strictObject({
  /** Local hours to compute in, e.g. "22:00-07:00" or "08:00-09:00,12:00-14:00"; always when absent. */
  computeHours: ComputeHoursText.optional(),
  /** As tasks.request's preferences.projects (docs/protocol.md): name, share 0–1000 (default 100), noNewTasks. */
  projects: z.array(ProjectPreferenceSchema).max(MAX_PREFERENCE_PROJECTS).optional(),
  /** Only tasks of the listed projects. */
  onlyListed: z.boolean().optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

/** The config file's contents, {} when there is none; an error in words for a bad one. */
export function readConfig(file: string): Config | { error: string } {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return { error: `${file} is not valid JSON: ${(e as Error).message}` };
  }
  const parsed = ConfigSchema.safeParse(raw);
  return parsed.success ? parsed.data : { error: `${file}:\n${z.prettifyError(parsed.error)}` };
}

export const defaultConfigFile = (dataDir: string) => join(dataDir, CONFIG_FILE);

/** "primes=200,mandelbrot=50" → project preferences with shares. */
export function parseProjectShares(spec: string): ProjectPreference[] | { error: string } {
  const out: ProjectPreference[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(.+?)\s*=\s*(\d+)$/.exec(part);
    if (!m || Number(m[2]) > MAX_SHARE) return { error: `"${part}" is not PROJECT=SHARE with a share of 0–${MAX_SHARE}` };
    out.push({ project: m[1]!, share: Number(m[2]) });
  }
  return out;
}

/** The file's project list with the flags' shares laid over it (a flag's project replaces the file's share). */
export function mergeProjects(file: readonly ProjectPreference[], flags: readonly ProjectPreference[]): ProjectPreference[] {
  const byName = new Map(file.map((p) => [p.project, { ...p }]));
  for (const f of flags) byName.set(f.project, { ...byName.get(f.project), ...f });
  return [...byName.values()];
}
