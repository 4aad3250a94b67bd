// What a batch gets for each replication parameter it does not set (docs/api.md). Apart from
// protocol/api.ts so that the admin UI can show the defaults without bundling zod.
import type { Replication } from './api.js';

export const DEFAULT_REPLICATION: Replication = {
  minQuorum: 2,
  targetNresults: 2,
  maxErrorResults: 3,
  maxTotalResults: 8,
  maxSuccessResults: 6,
  delayBoundMs: 24 * 3600 * 1000,
  fpopsEst: 1e10,
  priority: 0,
};
