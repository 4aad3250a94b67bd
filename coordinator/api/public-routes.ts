// Read-only routes anyone may use, from any site (CORS-open, no cookies read): the project
// list for the volunteer page and third-party sites, and the credit stats export. Rate-limited
// per address like every route (coordinator.ts). docs/api.md describes them.
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import express from 'express';
import { z } from 'zod';
import { StatsKindSchema, type PublicApp, type PublicProjectList, type StatsIndex } from '../../protocol/api.js';
import type { Logger } from '../../common/log.js';
import { errorFields } from '../../common/log.js';
import type { Store } from '../store/store.js';
import { RAC_HALF_LIFE_MS } from '../work/credit.js';
import { ApiError, parse } from './api-error.js';
import { statsExport } from './stats-export.js';

const ProjectsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const StatsParams = z.strictObject({ kind: StatsKindSchema });
const StatsQuery = z.strictObject({ format: z.enum(['json', 'xml']).default('json') });

/** How long a page or proxy may keep an answer: the list changes as batches move, the export slowly. */
const PROJECTS_MAX_AGE_S = 10;
const STATS_MAX_AGE_S = 300;

function platformsOf(rows: { platform: string | null }[]): PublicApp['platforms'] {
  const kinds = new Set<'node' | 'browser'>();
  for (const { platform } of rows) {
    if (platform === 'any' || platform === 'browser') kinds.add('browser');
    if (platform === 'any' || platform === 'node') kinds.add('node');
  }
  return [...kinds].sort();
}

export function publicRoutes(deps: { store: Store; log: Logger }): express.Router {
  const { store, log } = deps;
  const router = express.Router();
  // Public data: any site may read it, without credentials (no Allow-Credentials, so a browser
  // sends no cookie along and nothing here reads one).
  router.use('/public', (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
      res.setHeader('Access-Control-Max-Age', '86400');
      res.status(204).end();
      return;
    }
    next();
  });

  router.get('/public/projects', async (req, res) => {
    const { after, limit } = parse(ProjectsQuery, req.query, 'query');
    const rows = await store.publicData.projects(after, limit + 1);
    const page = rows.slice(0, limit);
    const apps = new Map<number, Map<number, { name: string; platform: string | null }[]>>();
    for (const a of (await store.publicData.appsOf(page.map((p) => p.id)))) {
      const ofProject = apps.get(a.projectId) ?? new Map<number, { name: string; platform: string | null }[]>();
      ofProject.set(a.appId, [...(ofProject.get(a.appId) ?? []), a]);
      apps.set(a.projectId, ofProject);
    }
    const body: PublicProjectList = {
      projects: page.map((p) => ({
        id: p.id,
        name: p.name,
        description: p.description,
        owner: p.owner,
        apps: [...(apps.get(p.id)?.values() ?? [])].map((versions) => ({ name: versions[0]!.name, platforms: platformsOf(versions) })),
        progress: { batches: p.batches, done: p.done, failed: p.failed, total: p.total },
        hasWork: p.hasWork === 1,
      })),
      next: rows.length > limit ? page[page.length - 1]!.id : null,
    };
    res.setHeader('Cache-Control', `public, max-age=${PROJECTS_MAX_AGE_S}`);
    res.json(body);
  });

  router.get('/public/stats', async (_req, res) => {
    const body: StatsIndex = {
      generatedAt: Date.now(),
      racHalfLifeMs: RAC_HALF_LIFE_MS,
      counts: { users: (await store.publicData.count('users')), teams: (await store.publicData.count('teams')), hosts: (await store.publicData.count('hosts')) },
      files: Object.fromEntries(
        StatsKindSchema.options.flatMap((k) => [
          [`${k}.json`, `/api/v1/public/stats/${k}`],
          [`${k}.xml`, `/api/v1/public/stats/${k}?format=xml`],
        ]),
      ),
    };
    res.setHeader('Cache-Control', `public, max-age=${STATS_MAX_AGE_S}`);
    res.json(body);
  });

  router.get('/public/stats/:kind', async (req, res) => {
    const { kind } = parse(StatsParams, req.params, 'stats');
    const { format } = parse(StatsQuery, req.query, 'query');
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.setHeader('Content-Type', format === 'json' ? 'application/json; charset=utf-8' : 'application/xml; charset=utf-8');
    res.setHeader('Cache-Control', `public, max-age=${STATS_MAX_AGE_S}`);
    res.setHeader('Vary', 'Accept-Encoding');
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    const source = statsExport(store.publicData, kind, format, Date.now(), RAC_HALF_LIFE_MS);
    try {
      if (gzip) await pipeline(source, createGzip(), res);
      else await pipeline(source, res);
    } catch (e) {
      // Headers are gone: a client that went away, or a failed read, ends the response short.
      if (!res.destroyed) res.destroy();
      if ((e as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') log.warn('stats export ended early', { kind, ...errorFields(e) });
    }
  });
  // Nothing else is public: an unknown path here is a 404, not a request to log in.
  router.use('/public', (req) => {
    throw new ApiError('not_found', `no route ${req.method} /api/v1/public${req.path}`);
  });
  return router;
}
