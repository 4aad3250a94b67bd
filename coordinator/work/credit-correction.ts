// Credit caps as admins set them per project, and the job that applies a lowered cap to credit
// already granted: batch by batch, work unit by work unit, a chunk per transaction (a project may
// have millions of credited results, and the coordinator must keep serving meanwhile). Each
// chunk appends a signed correction for every replica above the cap and records where it got to
// in the project's row, so a crash resumes the job at the next start; grants made meanwhile are
// already held to the new cap.
import type { Fence, Step } from '../cluster/fence.js';
import { localControl, type JobControl } from '../cluster/job-control.js';
import type { CreditCorrectionState, ProjectRecord } from '../store/catalog.js';
import type { Store, Tx } from '../store/store.js';
import { ChunkedJob } from './chunked-job.js';
import type { CreditGranter } from './credit-granter.js';
import { Outbox, type HostNotifier } from './outbox.js';

/** Work units looked at per transaction. */
const CHUNK = 500;

export class CreditCorrection {
  private readonly job = new ChunkedJob(
    async () => (await this.store.catalog.creditCorrections()).map((p) => p.projectId),
    (projectId: number, fence: Fence) => this.part(projectId, fence),
  );
  private readonly control: JobControl;

  constructor(
    private readonly store: Store,
    private readonly credit: CreditGranter,
    private readonly notifier: HostNotifier,
    private readonly clock: () => number,
    onError: (e: unknown) => void,
    /** Where the job runs (a coordinator's lease); default: in this process. */
    control?: JobControl,
  ) {
    this.control = control ?? localControl(() => this.kick(), onError);
  }

  /** A project's cap in micro-credits: the one an admin set, or the coordinator's default. */
  capOf(project: Pick<ProjectRecord, 'maxCreditMicro'>): number {
    return this.credit.effectiveCapMicro(project.maxCreditMicro);
  }

  /**
   * Sets a project's most credit per result (null: back to the coordinator's default), holds
   * every later grant to it, and starts taking back what was granted above it. Undefined for no
   * such project.
   */
  async setCap(projectId: number, capMicro: number | null): Promise<ProjectRecord | undefined> {
    const found = await this.store.transaction(async (tx) => {
      if (!(await tx.catalog.projectById(projectId))) return false;
      await tx.catalog.setCreditCap(projectId, capMicro, this.credit.effectiveCapMicro(capMicro));
      return true;
    });
    if (!found) return undefined;
    // Its first chunk runs now where this instance runs the job: a small project is done before
    // this returns. The job does the rest (another instance's finds the project's row).
    if ((await this.part(projectId, this.control.fence)) === 'more') this.control.kick();
    return await this.store.catalog.projectById(projectId);
  }

  /** Runs the corrections pending, unfenced (a core on its own); resolves when none is left. */
  kick(): Promise<void> {
    return this.job.kick();
  }

  /** A turn under a lease: the corrections pending, each chunk fenced. */
  run(fence: Fence): Promise<void> {
    return this.job.run(fence);
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.job.stop();
  }

  /** One chunk of one project's correction; done when the project is (or its cap changed: the run comes back to it). */
  private async part(projectId: number, fence: Fence): Promise<Step> {
    const outbox = new Outbox();
    const step = await this.store.transaction(async (tx): Promise<Step> => {
      if (!(await fence(tx.sql))) return 'fenced';
      const state = (await tx.catalog.creditCorrections()).find((c) => c.projectId === projectId);
      if (!state) return 'done';
      return (await this.chunk(tx, state, outbox)) ? 'done' : 'more';
    });
    outbox.flush(this.notifier);
    return step;
  }

  private async chunk(tx: Tx, c: CreditCorrectionState, outbox: Outbox): Promise<boolean> {
    const { work, catalog } = tx;
    const batchId = await work.nextBatchOfProject(c.projectId, c.batchId);
    if (batchId === undefined) {
      await catalog.finishCreditCorrection(c.projectId);
      return true;
    }
    const after = batchId === c.batchId ? c.through : 0;
    const span = await work.workunitSpan(batchId, after, CHUNK);
    if (span.last !== null) {
      const now = this.clock();
      for (const r of (await work.creditedAbove(batchId, after, span.last, c.capMicro))) {
        await this.credit.correct(tx, r.workunitId, r.replicaId, r.hostId, c.capMicro, now, outbox);
      }
    }
    // A batch is done when it had fewer than a chunk left: the next one starts from its first work unit.
    if (span.n < CHUNK) await catalog.advanceCreditCorrection(c.projectId, batchId + 1, 0);
    else await catalog.advanceCreditCorrection(c.projectId, batchId, span.last!);
    return false;
  }
}
