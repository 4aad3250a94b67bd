// Credit caps as admins set them per project, and the job that applies a lowered cap to credit
// already granted: batch by batch, work unit by work unit, a chunk per transaction (a project may
// have millions of credited results, and the coordinator must keep serving meanwhile). Each
// chunk appends a signed correction for every replica above the cap and records where it got to
// in the project's row, so a crash resumes the job at the next start; grants made meanwhile are
// already held to the new cap.
import type { CreditCorrectionState, ProjectRecord } from '../store/catalog.js';
import type { Store } from '../store/store.js';
import { ChunkedJob } from './chunked-job.js';
import type { CreditGranter } from './credit-granter.js';
import { Outbox, type HostNotifier } from './outbox.js';

/** Work units looked at per transaction. */
const CHUNK = 500;

export class CreditCorrection {
  private readonly job = new ChunkedJob(
    () => this.store.catalog.creditCorrections().map((p) => p.projectId),
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
  setCap(projectId: number, capMicro: number | null): ProjectRecord | undefined {
    const found = this.store.transaction(() => {
      if (!this.store.catalog.projectById(projectId)) return false;
      this.store.catalog.setCreditCap(projectId, capMicro, this.credit.effectiveCapMicro(capMicro));
      return true;
    });
    if (!found) return undefined;
    // Its first chunk runs now: a small project is done before this returns.
    this.kick().catch(this.onError);
    return this.store.catalog.projectById(projectId);
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
  private part(projectId: number): boolean {
    const outbox = new Outbox();
    const done = this.store.transaction(() => {
      const state = this.store.catalog.creditCorrections().find((c) => c.projectId === projectId);
      if (!state) return true;
      return this.chunk(state, outbox);
    });
    outbox.flush(this.notifier);
    return done;
  }

  private chunk(c: CreditCorrectionState, outbox: Outbox): boolean {
    const { work, catalog } = this.store;
    const batchId = work.nextBatchOfProject(c.projectId, c.batchId);
    if (batchId === undefined) {
      catalog.finishCreditCorrection(c.projectId);
      return true;
    }
    const after = batchId === c.batchId ? c.through : 0;
    const span = work.workunitSpan(batchId, after, CHUNK);
    if (span.last !== null) {
      const now = this.clock();
      for (const r of work.creditedAbove(batchId, after, span.last, c.capMicro)) {
        this.credit.correct(r.workunitId, r.replicaId, r.hostId, c.capMicro, now, outbox);
      }
    }
    // A batch is done when it had fewer than a chunk left: the next one starts from its first work unit.
    if (span.n < CHUNK) catalog.advanceCreditCorrection(c.projectId, batchId + 1, 0);
    else catalog.advanceCreditCorrection(c.projectId, batchId, span.last!);
    return false;
  }
}
