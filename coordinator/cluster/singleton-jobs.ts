// A coordinator's background jobs, each run by one instance at a time: every instance runs a
// LeasedJob per job, and the one holding its lease takes the turns. One lease per job, not one for
// all: a long turn of one (a re-check of thousands of results) never holds up another's (the
// deadline sweep), and the jobs spread over the instances that took their leases first.
import type { Logger } from '../../common/log.js';
import type { Fence } from './fence.js';
import type { JobControl, JobControls, KickedJob } from './job-control.js';
import { LeasedJob } from './leased-job.js';
import type { Leases } from './leases.js';

export interface JobSpec {
  /** How often the holder takes a turn. */
  turnIntervalMs: number;
  /** One turn: what is due now, each transaction that writes asking the fence first. */
  turn(fence: Fence): Promise<void>;
}

export interface LeaseTiming {
  /** A lease unrenewed this long lapses: the longest a job stands still when its holder dies. */
  ttlMs: number;
  /** How often holders renew and the others try to take over (at most ttlMs / 3). */
  intervalMs: number;
}

export class SingletonJobs implements JobControls {
  private readonly specs = new Map<string, JobSpec>();
  private readonly jobs = new Map<string, LeasedJob>();

  constructor(
    private readonly timing: LeaseTiming,
    private readonly log: Logger,
  ) {}

  add(name: string, spec: JobSpec): void {
    if (this.specs.has(name)) throw new Error(`a job named ${name} was added twice`);
    this.specs.set(name, spec);
  }

  /** Handed out before the jobs start: a kick meanwhile is nothing, since the work is in the database for the first turn. */
  control(job: KickedJob): JobControl {
    return {
      kick: () => this.jobs.get(job)?.kick(),
      fence: async (tx) => (await this.jobs.get(job)?.fence(tx)) ?? false,
    };
  }

  /** Starts trying for every job's lease; resolves once each has had its first try. */
  async start(leases: Leases): Promise<void> {
    for (const [name, spec] of this.specs) {
      this.jobs.set(
        name,
        new LeasedJob(leases, name, { ...this.timing, turnIntervalMs: spec.turnIntervalMs, log: this.log, turn: (_lease, fence) => spec.turn(fence) }),
      );
    }
    await Promise.all([...this.jobs.values()].map((j) => j.start()));
  }

  /** Stops every job after the chunk in hand and gives its lease up, for another instance to take at once. */
  async stop(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((j) => j.stop()));
  }

  /** Each job, and whether this instance holds its lease now. */
  held(): Map<string, boolean> {
    return new Map([...this.specs.keys()].map((name) => [name, this.jobs.get(name)?.held ?? false]));
  }
}
