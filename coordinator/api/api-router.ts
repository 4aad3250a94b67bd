// The researcher and admin API under /api/v1: public routes first, then everything that needs
// an account. docs/api.md describes every route.
import express from 'express';
import type { Logger } from '../../common/log.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { AccountService } from '../accounts/account-service.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { StagedBatchKeeper } from '../cluster/staged-batches.js';
import type { OutputFiles } from '../files/output-files.js';
import type { StatusOf } from '../research/batch-status.js';
import type { TrustFn } from '../http/client-address.js';
import type { OriginPolicy } from '../http/origin-policy.js';
import type { Store } from '../store/store.js';
import type { CreditCorrection } from '../work/credit-correction.js';
import type { Repair } from '../work/repair.js';
import type { PriorityBounds } from '../work/priority-bounds.js';
import type { Submission } from '../work/submission.js';
import { Access } from './access.js';
import { ApiError, apiErrorHandler } from './api-error.js';
import { requireAccount } from './auth.js';
import { batchRoutes } from './batch-routes.js';
import { hostRoutes, leaderboardRoutes } from './host-routes.js';
import { projectRoutes } from './project-routes.js';
import { publicRoutes } from './public-routes.js';
import { sessionRoutes } from './session-routes.js';
import type { LoginGate } from './login-throttle.js';

export const API_PREFIX = '/api/v1';

export interface ApiDeps {
  store: Store;
  outputs: OutputFiles;
  apps: AppRegistry;
  submission: Submission;
  accounts: AccountService;
  creditCaps: CreditCorrection;
  priorities: PriorityBounds;
  log: Logger;
  trustThreshold: number;
  secureCookies: boolean;
  /** Which proxies' X-Forwarded-For to believe (coordinator/http/client-address.ts). */
  trust: TrustFn;
  /** Which pages may use the session cookie (coordinator/http/origin-policy.ts). */
  origins: OriginPolicy;
  /** Counts failed logins: shared by a cluster's instances; this instance's own when absent. */
  loginGate?: LoginGate;
  /** The largest work-unit input (--max-input-bytes). */
  maxInputBytes: number;
  cancelBatch(batchId: number): Promise<number>;
  retryBatch(batchId: number, codes?: string[]): Promise<number>;
  repair: Repair;
  stagedBatches: StagedBatchKeeper;
  onCommitted(batchId: number): void;
  onlineHostIds(): Promise<Set<number>>;
  statusOf: StatusOf;
  workAvailable(): void;
}

export function apiRouter(deps: ApiDeps): express.Router {
  const router = express.Router();
  const access = new Access(deps.store);
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  router.use(sessionRoutes(deps.accounts, { secureCookies: deps.secureCookies, trust: deps.trust, origins: deps.origins, ...(deps.loginGate ? { throttle: deps.loginGate } : {}) }));
  router.use(leaderboardRoutes(deps.store));
  router.use(publicRoutes({ store: deps.store, log: deps.log }));
  router.use(requireAccount(deps.accounts, deps.origins));
  router.use(projectRoutes({ store: deps.store, apps: deps.apps, access, creditCaps: deps.creditCaps, priorities: deps.priorities, workAvailable: deps.workAvailable }));
  // An NDJSON line holds an input, or a work unit: an input, a sentinel's answer and replication.
  router.use(batchRoutes({ ...deps, access, maxLineChars: deps.maxInputBytes + MAX_INLINE_JSON_BYTES + 4096 }));
  router.use(hostRoutes(deps));
  router.use((req) => {
    throw new ApiError('not_found', `no route ${req.method} ${API_PREFIX}${req.path}`);
  });
  router.use(apiErrorHandler(deps.log));
  return router;
}
