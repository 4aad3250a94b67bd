// Apps and their versions: create an app, upload a folder as a new version, show one.
import { openAsBlob, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AppSchema, AppVersionSchema } from '../../protocol/api.js';
import { defineCommand, flag } from '../command.js';
import { Failure } from '../failure.js';
import { formatBytes, formatTable, formatTime } from '../format.js';
import { Choice, Decimal, Id, jsonHelp, Switch, Text } from '../options.js';

export const appsCreate = defineCommand({
  words: ['apps', 'create'],
  summary: 'create an app in a project',
  usage: `Usage: volunteer-grid apps create --project ID NAME [options]

  --project ID                the project the app belongs to
  --validation MODE           how replicas' outputs are compared: exact (default: identical canonical
                              JSON) | tolerance (numbers may differ by either epsilon)
  --abs-epsilon X             with tolerance: largest absolute difference between two numbers
  --rel-epsilon X             with tolerance: largest relative difference
  --homogeneous-redundancy    send the replicas of a work unit only to hosts of one platform class
  --adaptive-replication      replicate less once hosts have earned trust
${jsonHelp(30)}
`,
  positionals: ['name'],
  flags: {
    project: flag(),
    validation: flag(),
    'abs-epsilon': flag(),
    'rel-epsilon': flag(),
    'homogeneous-redundancy': flag(true),
    'adaptive-replication': flag(true),
    json: flag(true),
  },
  schema: z
    .strictObject({
      project: Id('project'),
      name: Text(),
      validation: Choice(['exact', 'tolerance']).default('exact'),
      absEpsilon: Decimal({ atLeast: 0 }).optional(),
      relEpsilon: Decimal({ atLeast: 0 }).optional(),
      homogeneousRedundancy: Switch,
      adaptiveReplication: Switch,
      json: Switch,
    })
    .refine((o) => o.validation === 'tolerance' || (o.absEpsilon === undefined && o.relEpsilon === undefined), {
      message: '--abs-epsilon and --rel-epsilon need --validation tolerance',
    }),
  async run(o, ctx) {
    const validation =
      o.validation === 'exact'
        ? { mode: 'exact' }
        : { mode: 'tolerance', ...(o.absEpsilon === undefined ? {} : { absEpsilon: o.absEpsilon }), ...(o.relEpsilon === undefined ? {} : { relEpsilon: o.relEpsilon }) };
    const app = await ctx.connect().api.call('POST', `/projects/${o.project}/apps`, AppSchema, {
      json: {
        name: o.name,
        validation,
        ...(o.homogeneousRedundancy ? { homogeneousRedundancy: true } : {}),
        ...(o.adaptiveReplication ? { adaptiveReplication: true } : {}),
      },
    });
    ctx.print(o.json ? JSON.stringify(app) : `created app ${app.id} (${app.name}) in project ${app.projectId}`);
    return 0;
  },
});

const Requirements = z.string().transform((text, c) => {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return text;
  } catch {
    // reported below
  }
  c.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"wasm":true,"minMemoryMb":256}' });
  return z.NEVER;
});

/** The app's files: every regular file directly in `dir`. Folders are refused, not skipped. */
function appFiles(dir: string): { name: string; path: string; size: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new Failure(`cannot read ${dir}: ${(e as Error).message}`);
  }
  const files = names.map((name) => {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) throw new Failure(`${path} is a folder: an app version is a flat set of files, so move what it holds next to the entry module`);
    if (!stat.isFile()) throw new Failure(`${path} is not a regular file`);
    return { name, path, size: stat.size };
  });
  if (files.length === 0) throw new Failure(`${dir} holds no files`);
  return files;
}

export const appsUpload = defineCommand({
  words: ['apps', 'upload'],
  summary: "upload a folder's files as a new version of an app",
  usage: `Usage: volunteer-grid apps upload --app ID DIR [options]

Uploads every file in DIR (no subfolders) as the app's next version; the coordinator stores the
files by SHA-256 and signs the manifest. Volunteers run the newest version that suits them.

  --app ID                the app
  --entry FILE            the entry module (default main.js)
  --platform P            any (default) | node | browser
  --requirements JSON     what a volunteer needs, e.g. '{"wasm":true,"minMemoryMb":256}'
${jsonHelp()}
`,
  positionals: ['dir'],
  flags: { app: flag(), entry: flag(), platform: flag(), requirements: flag(), json: flag(true) },
  schema: z.strictObject({
    app: Id('app'),
    dir: Text(),
    entry: Text().default('main.js'),
    platform: Choice(['any', 'node', 'browser']).default('any'),
    requirements: Requirements.optional(),
    json: Switch,
  }),
  async run(o, ctx) {
    const files = appFiles(o.dir);
    if (!files.some((f) => f.name === o.entry)) throw new Failure(`${o.dir} has no ${o.entry}, the entry module (choose another with --entry)`);
    const form = new FormData();
    for (const f of files) form.append('files', await openAsBlob(f.path), f.name);
    form.append('entry', o.entry);
    form.append('platform', o.platform);
    if (o.requirements !== undefined) form.append('requirements', o.requirements);
    const version = await ctx.connect().api.call('POST', `/apps/${o.app}/versions`, AppVersionSchema, { body: form });
    const size = version.files.reduce((sum, f) => sum + f.size, 0);
    ctx.print(
      o.json
        ? JSON.stringify(version)
        : `uploaded version ${version.version} of app ${version.appId}: ${version.files.length} file${version.files.length === 1 ? '' : 's'}, ${formatBytes(size)}, bundle ${version.bundleHash}`,
    );
    return 0;
  },
});

export const appsShow = defineCommand({
  words: ['apps', 'show'],
  summary: 'show an app and its versions',
  usage: `Usage: volunteer-grid apps show ID [--json]

${jsonHelp()}
`,
  positionals: ['id'],
  flags: { json: flag(true) },
  schema: z.strictObject({ id: Id('app'), json: Switch }),
  async run(o, ctx) {
    const app = await ctx.connect().api.call('GET', `/apps/${o.id}`, AppSchema);
    if (o.json) {
      ctx.print(JSON.stringify(app));
      return 0;
    }
    const v = app.validation;
    const validation = v.mode === 'tolerance' ? `tolerance (abs ${v.absEpsilon ?? '-'}, rel ${v.relEpsilon ?? '-'})` : v.mode;
    ctx.print(`app ${app.id} (${app.name}) in project ${app.projectId}, validation ${validation}, created ${formatTime(app.createdAt)}`);
    if (app.versions.length === 0) {
      ctx.print(`no versions yet: upload one with \`volunteer-grid apps upload --app ${app.id} DIR\``);
      return 0;
    }
    ctx.print(
      formatTable(
        ['VERSION', 'PLATFORM', 'FILES', 'SIZE', 'REQUIREMENTS', 'BUNDLE', 'CREATED'],
        app.versions.map((ver) => [
          ver.version,
          ver.platform,
          ver.files.map((f) => f.name).join(','),
          formatBytes(ver.files.reduce((s, f) => s + f.size, 0)),
          ver.requirements && Object.keys(ver.requirements).length > 0 ? JSON.stringify(ver.requirements) : '-',
          ver.bundleHash.slice(0, 16),
          formatTime(ver.createdAt),
        ]),
      ),
    );
    return 0;
  },
});
