// Credit caps as admins set them per project, and the job that applies a lowered cap to credit
// already granted: batch by batch, work unit by work unit, a chunk per transaction (a project may
// have millions of credited results, and the coordinator must keep serving meanwhile). Each
// chunk appends a signed correction for every replica above the cap and records where it got to
// in the project's row, so a crash resumes the job at the next start; grants made meanwhile are
// already held to the new cap.
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
    (projectId: number) => this.part(projectId),
  );

  constructor(
    private readonly store: Store,
    private readonly credit: CreditGranter,
    private readonly notifier: HostNotifier,
    private readonly clock: () => number,
    private readonly onError: (e: unknown) => void,
  ) {}

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
    // Its first chunk runs now: a small project is done before this returns; the job does the rest.
    if (!(await this.part(projectId))) this.kick().catch(this.onError);
    return await this.store.catalog.projectById(projectId);
  }

  /** Runs the corrections pending (call at start to resume); resolves when none is left. */
  kick(): Promise<void> {
    return this.job.kick();
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.job.stop();
  }

  /** One chunk of one project's correction; true when the project is done (or its cap changed: the run comes back to it). */
  private async part(projectId: number): Promise<boolean> {
    const outbox = new Outbox();
    const done = await this.store.transaction(async (tx) => {
      const state = (await tx.catalog.creditCorrections()).find((c) => c.projectId === projectId);
      if (!state) return true;
      return this.chunk(tx, state, outbox);
    });
    outbox.flush(this.notifier);
    return done;
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
