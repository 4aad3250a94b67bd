// The parts of the coordinator's answers (docs/api.md) the CLI relies on, checked at the edge.
// Objects are not strict: fields the server adds later are ignored, not refused.
import { z } from 'zod';

export const ApiErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const Account = z.object({ id: z.number().int(), name: z.string(), role: z.enum(['researcher', 'admin']) });

export const Session = z.object({ account: Account, csrfToken: z.string().nullable() });
export type Session = z.infer<typeof Session>;

export const CreatedToken = z.object({ id: z.number().int(), name: z.string(), token: z.string() });

const WorkunitCounts = z.object({
  active: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});

export const Project = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string().nullish(),
  status: z.string(),
  ownerName: z.string().nullish(),
  createdAt: z.number(),
  workunits: WorkunitCounts,
});
export type Project = z.infer<typeof Project>;
export const ProjectList = z.object({ projects: z.array(Project) });

export const AppVersion = z.object({
  id: z.number().int(),
  appId: z.number().int(),
  version: z.number().int(),
  platform: z.string(),
  requirements: z.record(z.string(), z.unknown()).nullish(),
  bundleHash: z.string(),
  files: z.array(z.object({ name: z.string(), sha256: z.string(), size: z.number() })),
  createdAt: z.number(),
});
export type AppVersion = z.infer<typeof AppVersion>;

export const App = z.object({
  id: z.number().int(),
  projectId: z.number().int(),
  name: z.string(),
  validation: z.object({ mode: z.string(), absEpsilon: z.number().optional(), relEpsilon: z.number().optional() }),
  homogeneousRedundancy: z.boolean().optional(),
  adaptiveReplication: z.boolean().optional(),
  createdAt: z.number(),
  versions: z.array(AppVersion).default([]),
});
export type App = z.infer<typeof App>;

export const SubmitResult = z.object({ batchId: z.number().int(), created: z.boolean(), workunits: z.number().int() });

export const BatchStatus = z.object({
  id: z.number().int(),
  projectId: z.number().int(),
  projectName: z.string().optional(),
  appId: z.number().int(),
  appName: z.string().optional(),
  name: z.string(),
  status: z.enum(['active', 'done', 'cancelled']),
  createdAt: z.number(),
  finishedAt: z.number().nullish(),
  workunits: WorkunitCounts.extend({ total: z.number().int() }),
  replicas: z.record(z.string(), z.number()).optional(),
  throughput: z.object({ workunitsPerSecond: z.number(), windowMs: z.number() }).optional(),
  etaMs: z.number().nullish(),
});
export type BatchStatus = z.infer<typeof BatchStatus>;
export const BatchList = z.object({ batches: z.array(BatchStatus) });

export const BatchErrors = z.object({
  byCode: z.record(z.string(), z.number()),
  errors: z.array(
    z.object({
      replicaId: z.number().int(),
      workunitId: z.number().int(),
      seq: z.number().int(),
      hostName: z.string().nullish(),
      code: z.string(),
      message: z.string(),
      at: z.number(),
    }),
  ),
});

export const CancelResult = z.object({ cancelled: z.number().int() });

export const WatchAck = z.union([
  z.object({ ok: z.literal(true), status: BatchStatus }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
