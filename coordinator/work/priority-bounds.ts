// How high a project's work may go in the scheduler's queue. Work-unit priority orders the
// queue (scheduler.ts reads unsent replicas highest first), so a researcher free to pick any
// priority could starve every other project. Each project has a bound an admin sets (else the
// coordinator's --max-priority); submissions above it are refused, not clamped, so that nobody is
// surprised by the order their work runs in. Lowering a bound also brings the project's queued
// work down to it, batch by batch, a chunk of work units per transaction, keeping its place in
// the project's row so that a crash resumes it at the next start (as credit corrections do).
import type { Fence, Step } from '../cluster/fence.js';
import { localControl, type JobControl } from '../cluster/job-control.js';
import type { PriorityLoweringState, ProjectRecord } from '../store/catalog.js';
import type { Repositories, Store, Tx } from '../store/store.js';
import { ChunkedJob } from './chunked-job.js';

/** Work units looked at per transaction. */
const CHUNK = 500;

/** Why a work unit may not have this priority under this bound, if it may not. */
export function priorityProblem(priority: number | undefined, max: number): string | undefined {
  if (priority === undefined || priority <= max) return undefined;
  return `priority ${priority} is above ${max}, the highest this project allows (an admin sets it: PUT /api/v1/projects/:id/priority-cap)`;
}

export class PriorityBounds {
  private readonly job = new ChunkedJob(
    async () => (await this.store.catalog.priorityLowerings()).map((p) => p.projectId),
    (projectId: number, fence: Fence) => this.part(projectId, fence),
  );
  private readonly control: JobControl;

  constructor(
    private readonly store: Store,
    /** The bound of projects whose admin set none (--max-priority). */
    private readonly defaultMax: number,
    onError: (e: unknown) => void,
    /** Where the job runs (a coordinator's lease); default: in this process. */
    control?: JobControl,
  ) {
    this.control = control ?? localControl(() => this.kick(), onError);
  }

  /** A project's bound: the one an admin set, or the coordinator's default. */
  maxOf(project: Pick<ProjectRecord, 'maxPriority'>): number {
    return project.maxPriority ?? this.defaultMax;
  }

  /** The bound for work units of an app. */
  async maxOfApp(appId: number, r: Repositories = this.store): Promise<number> {
    return (await r.catalog.maxPriorityOfApp(appId)) ?? this.defaultMax;
  }

  /**
   * Sets a project's bound (null: back to the coordinator's default) and starts bringing its
   * queued work down to it. Undefined for no such project.
   */
  async setMax(projectId: number, max: number | null): Promise<ProjectRecord | undefined> {
    const found = await this.store.transaction(async (tx) => {
      const project = await tx.catalog.projectById(projectId);
      if (!project) return false;
      const bound = max ?? this.defaultMax;
      // Raising a bound raises nothing; a lowering under way goes on to the new bound.
      const lower = bound < this.maxOf(project) || project.priorityLowering !== null;
      await tx.catalog.setMaxPriority(projectId, max, lower ? bound : null);
      return true;
    });
    if (!found) return undefined;
    // Its first chunk runs now where this instance runs the job: a small project is done before
    // this returns. The job does the rest (another instance's finds the project's row).
    if ((await this.part(projectId, this.control.fence)) === 'more') this.control.kick();
    return await this.store.catalog.projectById(projectId);
  }

  /** Runs the lowerings pending, unfenced (a core on its own); resolves when none is left. */
  kick(): Promise<void> {
    return this.job.kick();
  }

  /** A turn under a lease: the lowerings pending, each chunk fenced. */
  run(fence: Fence): Promise<void> {
    return this.job.run(fence);
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.job.stop();
  }

  /** One chunk of one project's lowering; done when the project is. */
  private async part(projectId: number, fence: Fence): Promise<Step> {
    return await this.store.transaction(async (tx): Promise<Step> => {
      if (!(await fence(tx.sql))) return 'fenced';
      const state = (await tx.catalog.priorityLowerings()).find((p) => p.projectId === projectId);
      return !state || (await this.chunk(tx, state)) ? 'done' : 'more';
    });
  }

  private async chunk(tx: Tx, p: PriorityLoweringState): Promise<boolean> {
    const { work, catalog } = tx;
    const batchId = await work.nextBatchOfProject(p.projectId, p.batchId);
    if (batchId === undefined) {
      await catalog.finishPriorityLowering(p.projectId);
      return true;
    }
    const after = batchId === p.batchId ? p.through : 0;
    const span = await work.workunitSpan(batchId, after, CHUNK);
    if (span.last !== null) await work.lowerPriority(batchId, after, span.last, p.maxPriority);
    if (span.n === CHUNK) {
      await catalog.advancePriorityLowering(p.projectId, batchId, span.last!);
      return false;
    }
    // That batch is done; so is the project if it was the last.
    if ((await work.nextBatchOfProject(p.projectId, batchId + 1)) === undefined) {
      await catalog.finishPriorityLowering(p.projectId);
      return true;
    }
    await catalog.advancePriorityLowering(p.projectId, batchId + 1, 0);
    return false;
  }
}
