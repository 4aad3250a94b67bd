// Volunteer hosts (for signed-in accounts) and the public leaderboards.
import express from 'express';
import { z } from 'zod';
import type { Host, HostList, Leaderboard } from '../../protocol/api.js';
import type { Store } from '../store/store.js';
import { parse } from './api-error.js';

const HostsQuerySchema = z.strictObject({
  online: z.stringbool().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
const LeaderboardParams = z.strictObject({ kind: z.enum(['users', 'teams', 'hosts']) });
const LeaderboardQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export function hostRoutes(deps: { store: Store; onlineHostIds(): Promise<Set<number>>; trustThreshold: number }): express.Router {
  const { store } = deps;
  const router = express.Router();
  router.get('/hosts', async (req, res) => {
    const q = parse(HostsQuerySchema, req.query, 'query');
    const online = await deps.onlineHostIds();
    const hosts = (await store.reports.hosts(q.online ? [...online] : undefined, q.limit)).map((h): Host => ({
      ...h,
      online: online.has(h.id),
      tasksDone: h.nValid + h.nInvalid + h.nError,
      trusted: h.distrustedAt === null && h.consecutiveValid >= deps.trustThreshold,
    }));
    res.json({ online: online.size, hosts } satisfies HostList);
  });
  return router;
}

export function leaderboardRoutes(store: Store): express.Router {
  const router = express.Router();
  router.get('/leaderboards/:kind', async (req, res) => {
    const { kind } = parse(LeaderboardParams, req.params, 'leaderboard');
    const { limit } = parse(LeaderboardQuery, req.query, 'query');
    res.setHeader('Cache-Control', 'public, max-age=10');
    res.json({ kind, entries: (await store.reports.leaderboard(kind, limit)).map((e, i) => ({ rank: i + 1, ...e })) } satisfies Leaderboard);
  });
  return router;
}
