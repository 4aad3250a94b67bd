// Projects, apps and app versions.
import express from 'express';
import { z } from 'zod';
import { VersionChangeSchema, type App, type AppVersion, type Project, type ProjectBatch, type ProjectDetail, type ProjectList } from '../../protocol/api.js';
import { creditAmount, creditUnits } from '../../protocol/ledger.js';
import { manifestKind } from '../../protocol/app-kind.js';
import { addCheckedVersion, AppSpecSchema, ProjectSpecSchema, ProjectUpdateSchema, RequirementsSchema, type AppRegistry } from '../apps/app-registry.js';
import type { AppRecord, AppVersionRecord, ProjectRecord } from '../store/catalog.js';
import type { Store } from '../store/store.js';
import type { CreditCorrection } from '../work/credit-correction.js';
import type { PriorityBounds } from '../work/priority-bounds.js';
import type { Access } from './access.js';
import { ApiError, parse } from './api-error.js';
import { caller, requireAdmin } from './auth.js';
import { jsonBody } from './json-body.js';
import { readMultipart } from './multipart.js';
import { IdParam } from './params.js';

const VersionFieldsSchema = z.strictObject({
  entry: z.string().min(1).max(128).optional(),
  platform: z.enum(['any', 'node', 'browser']).optional(),
  requirements: z
    .string()
    .max(4096)
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'requirements must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(RequirementsSchema)
    .optional(),
});

/** null: back to the coordinator's --max-priority. */
const PriorityCapBodySchema = z.strictObject({ maxPriority: z.number().int().min(0).max(1000).nullable() });

/** In credits, to the micro-credit; null: back to the coordinator's --max-credit-per-result. */
const CreditCapBodySchema = z.strictObject({ maxCreditPerResult: z.number().min(0).max(1e9).nullable() });

export function projectRoutes(deps: {
  store: Store;
  apps: AppRegistry;
  access: Access;
  creditCaps: CreditCorrection;
  priorities: PriorityBounds;
  /** Work may have become available (a project resumed, a new version uploaded): idle volunteers are told. */
  workAvailable(): void;
}): express.Router {
  const { store, apps, access, creditCaps, priorities } = deps;
  const router = express.Router();
  const json = jsonBody(64 * 1024);

  const projectView = async ({ maxCreditMicro, creditCorrectionMicro, maxPriority, priorityLowering, ...p }: ProjectRecord): Promise<Project> => ({
    ...p,
    ownerName: p.ownerId === null ? null : ((await store.accounts.byId(p.ownerId))?.name ?? null),
    workunits: (await store.reports.projectWorkunitCounts(p.id)),
    creditCap: {
      maxPerResult: creditAmount(creditCaps.capOf({ maxCreditMicro })),
      isDefault: maxCreditMicro === null,
      correcting: creditCorrectionMicro !== null,
    },
    priorityCap: { maxPriority: priorities.maxOf({ maxPriority }), isDefault: maxPriority === null, lowering: priorityLowering !== null },
  });
  const versionView = (v: AppVersionRecord): AppVersion => ({
    id: v.id,
    appId: v.appId,
    version: v.version,
    platform: v.platform,
    requirements: v.requirements,
    bundleHash: v.bundleHash,
    signature: v.signature,
    entry: v.manifest.entry,
    kind: manifestKind(v.manifest),
    files: v.manifest.files,
    createdAt: v.createdAt,
    broken: v.broken,
    retiredAt: v.retiredAt,
  });
  const appView = async (a: AppRecord): Promise<App> => ({ ...a, versions: (await store.catalog.versionsOfApp(a.id)).map(versionView) });

  router.get('/projects', async (_req, res) => {
    res.json({ projects: await Promise.all((await store.catalog.projects(access.ownerFilter(caller(res).account))).map(projectView)) } satisfies ProjectList);
  });

  router.post('/projects', json, async (req, res) => {
    const spec = parse(ProjectSpecSchema, req.body, 'project');
    const id = await apps.createProject(spec, caller(res).account.id);
    res.status(201).json(await projectView((await store.catalog.projectById(id))!));
  });

  router.get('/projects/:id', async (req, res) => {
    const p = await access.project(caller(res).account, parse(IdParam, req.params.id, 'project id'));
    res.json({
      ...(await projectView(p)),
      apps: await Promise.all((await store.catalog.appsOfProject(p.id)).map(appView)),
      batches: (await store.reports.batches({ projectId: p.id }, 1000)).map((b): ProjectBatch => ({ id: b.id, name: b.name, appId: b.appId, appName: b.appName, workunits: b.workunitCount, cancelled: b.cancelled, createdAt: b.createdAt })),
    } satisfies ProjectDetail);
  });

  router.patch('/projects/:id', json, async (req, res) => {
    const p = await access.project(caller(res).account, parse(IdParam, req.params.id, 'project id'));
    const change = parse(ProjectUpdateSchema, req.body, 'project change');
    const updated = await apps.updateProject(p.id, change);
    if (change.status === 'active') deps.workAvailable();
    res.json(await projectView(updated));
  });

  // Admins only: the cap is what stops a project from minting credit. Lowering it takes back what
  // was granted above it, in the background (creditCap.correcting says while).
  router.put('/projects/:id/credit-cap', requireAdmin, json, async (req, res) => {
    const p = await access.project(caller(res).account, parse(IdParam, req.params.id, 'project id'));
    const { maxCreditPerResult } = parse(CreditCapBodySchema, req.body, 'credit cap');
    const updated = await creditCaps.setCap(p.id, maxCreditPerResult === null ? null : creditUnits(maxCreditPerResult));
    if (!updated) throw new ApiError('not_found', `no project ${p.id}`);
    res.json(await projectView(updated));
  });

  // Admins only: the bound is what keeps one project's work from starving everyone else's.
  // Lowering it brings the project's queued work down to it, in the background.
  router.put('/projects/:id/priority-cap', requireAdmin, json, async (req, res) => {
    const p = await access.project(caller(res).account, parse(IdParam, req.params.id, 'project id'));
    const { maxPriority } = parse(PriorityCapBodySchema, req.body, 'priority cap');
    const updated = await priorities.setMax(p.id, maxPriority);
    if (!updated) throw new ApiError('not_found', `no project ${p.id}`);
    res.json(await projectView(updated));
  });

  router.post('/projects/:id/apps', json, async (req, res) => {
    const p = await access.project(caller(res).account, parse(IdParam, req.params.id, 'project id'));
    const spec = parse(AppSpecSchema, req.body, 'app');
    const app = await apps.createApp(p.id, spec);
    res.status(201).json(await appView((await store.catalog.appById(app.id))!));
  });

  router.get('/apps/:id', async (req, res) => {
    res.json(await appView((await access.app(caller(res).account, parse(IdParam, req.params.id, 'app id')))));
  });

  router.post('/apps/:id/versions', async (req, res) => {
    const app = await access.app(caller(res).account, parse(IdParam, req.params.id, 'app id'));
    const upload = await readMultipart(req);
    const fields = parse(VersionFieldsSchema, upload.fields, 'app version');
    const stray = upload.files.find((f) => f.field !== 'files');
    if (stray) throw new ApiError('bad_request', `file parts must be named "files", not "${stray.field}"`);
    if (upload.files.length === 0) throw new ApiError('bad_request', 'no files: send one part named "files" per file');
    const version = await addCheckedVersion(apps, app.id, { ...fields, files: upload.files.map((f) => ({ name: f.name, bytes: f.bytes })) });
    deps.workAvailable(); // perhaps in place of a broken one
    res.status(201).json(versionView(version));
  });

  // Retiring a version stops new tasks with it; the newest version not retired is sent instead.
  router.patch('/apps/:id/versions/:version', json, async (req, res) => {
    const app = await access.app(caller(res).account, parse(IdParam, req.params.id, 'app id'));
    const number = parse(IdParam, req.params.version, 'version');
    const { retired } = parse(VersionChangeSchema, req.body, 'version change');
    const v = (await store.catalog.versionsOfApp(app.id)).find((x) => x.version === number);
    if (!v) throw new ApiError('not_found', `app ${app.id} has no version ${number}`);
    await store.catalog.setVersionRetired(v.id, retired ? (v.retiredAt ?? Date.now()) : null);
    deps.workAvailable();
    res.json(versionView((await store.catalog.versionById(v.id))!));
  });

  return router;
}
