// Apps and their versions: create an app, upload a folder as a new version, show one.
import { openAsBlob } from 'node:fs';
import { z } from 'zod';
import { IGNORE_FILE, readAppFolder } from '../../common/app-folder.js';
import { AppSchema, type AppVersion, AppVersionSchema, ProjectSchema } from '../../protocol/api.js';
import { defaultEntry, describeKind } from '../../protocol/app-kind.js';
import { defineCommand, flag, repeatable } from '../command.js';
import { Failure, fsReason } from '../failure.js';
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

export const appsUpload = defineCommand({
  words: ['apps', 'upload'],
  summary: "upload a folder's files as a new version of an app",
  usage: `Usage: volunteer-grid apps upload --app ID DIR [options]

Uploads the files in DIR as the app's next version, as they are (nothing is built: compile a
kernel first); the coordinator stores them by SHA-256 and signs the manifest. Volunteers run the
newest version that suits them. An app version is a flat set of files, so a subfolder is refused
unless it is left out.

What is not part of the app (an input generator, a kernel's source, notes) is left out by
DIR/${IGNORE_FILE}: one pattern a line as in .gitignore (# comments, * ? [a-z], a trailing / for
folders, ! to take a file back in; the last pattern that matches wins), and by --exclude.
Hidden files (${IGNORE_FILE} itself) are always left out: no app file's name starts with a dot.
The answer lists what went and what was left out, and why.

  --app ID                the app
  --exclude PATTERN       leave out what matches, after ${IGNORE_FILE} (repeatable)
  --entry FILE            the entry: a JavaScript module, a WASI program (.wasm) or a
                          Python app (.py, defining run(input, ctx)); by default
                          main.js, else main.mjs, else main.wasm, else main.py,
                          whichever DIR has
  --platform P            any (default) | node | browser
  --requirements JSON     what a volunteer needs, e.g. '{"wasm":true,"minMemoryMb":256}'
${jsonHelp()}
`,
  positionals: ['dir'],
  flags: { app: flag(), exclude: repeatable(), entry: flag(), platform: flag(), requirements: flag(), json: flag(true) },
  schema: z.strictObject({
    app: Id('app'),
    dir: Text(),
    exclude: z.array(Text()).default([]),
    entry: Text().optional(),
    platform: Choice(['any', 'node', 'browser']).default('any'),
    requirements: Requirements.optional(),
    json: Switch,
  }),
  async run(o, ctx) {
    const folder = readAppFolder(o.dir, o.exclude);
    if ('error' in folder) throw new Failure(folder.error);
    for (const pattern of folder.unmatched) ctx.stderr.write(`warning: --exclude ${pattern} matches nothing in ${o.dir}\n`);
    const entry = o.entry ?? defaultEntry(folder.files.map((f) => f.name));
    if (!folder.files.some((f) => f.name === entry)) {
      const left = folder.leftOut.find((l) => l.name === entry);
      throw new Failure(
        left
          ? `${entry}, the entry module, is left out (${left.why})`
          : `${o.dir} has no ${entry}, the entry module (choose another with --entry)`,
      );
    }
    const { api } = ctx.connect();
    // Which app and project this is, said back before anything is sent: a wrong --app shows at once.
    const app = await api.call('GET', `/apps/${o.app}`, AppSchema);
    const project = await api.call('GET', `/projects/${app.projectId}`, ProjectSchema).catch(() => undefined);
    const form = new FormData();
    for (const f of folder.files) {
      try {
        form.append('files', await openAsBlob(f.path), f.name);
      } catch (e) {
        throw new Failure(`cannot read ${f.path}: ${fsReason(e)}`);
      }
    }
    form.append('entry', entry);
    form.append('platform', o.platform);
    if (o.requirements !== undefined) form.append('requirements', o.requirements);
    const version = await api.call('POST', `/apps/${o.app}/versions`, AppVersionSchema, { body: form });
    if (o.json) {
      ctx.print(JSON.stringify(version));
      return 0;
    }
    const size = version.files.reduce((sum, f) => sum + f.size, 0);
    const where = `app ${app.name} (${app.id}) in project ${project ? `${project.name} (${project.id})` : app.projectId}`;
    ctx.print(`uploaded version ${version.version} of ${where}: ${version.files.length} file${version.files.length === 1 ? '' : 's'}, ${formatBytes(size)}`);
    ctx.print(`  kind      ${describeKind(version.kind)}, entry ${version.entry} (what the coordinator found it to be)`);
    ctx.print(`  files     ${version.files.map((f) => `${f.name} (${formatBytes(f.size)})`).join(', ')}`);
    if (folder.leftOut.length > 0) ctx.print(`  left out  ${folder.leftOut.map((l) => `${l.name} (${l.why})`).join(', ')}`);
    ctx.print(`  bundle    ${version.bundleHash}`);
    return 0;
  },
});

/** Whether tasks go out with a version, and why not. */
function versionState(v: AppVersion): string {
  if (v.broken) return `broken: ${v.broken.reason}`;
  if (v.retiredAt !== null) return `retired ${formatTime(v.retiredAt)}`;
  return 'in service';
}

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
        ['VERSION', 'STATE', 'KIND', 'PLATFORM', 'FILES', 'SIZE', 'REQUIREMENTS', 'BUNDLE', 'CREATED'],
        app.versions.map((ver) => [
          ver.version,
          versionState(ver),
          ver.kind,
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
