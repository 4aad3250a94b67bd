// What the benchmark and its simulated-volunteer processes say to each other over Node's IPC
// channel: a few commands down, figures up. Samples travel as flat arrays of numbers.

export interface SimConfig {
  url: string;
  /**
   * Every instance of a cluster (url among them): host i starts on urls[i mod n] and, when its
   * connection drops, moves to the next that answers, as the reference clients fail over.
   */
  urls?: string[];
  hosts: number;
  /** Connections being opened at once, per process. */
  connectConcurrency: number;
  namePrefix: string;
  /** Check the coordinator's signature about once in this many tasks (0: never): the list of the reply with the Nth task (sim-host.ts). */
  verifyEvery: number;
}

export type WorkMode =
  /** Each host asks, computes and reports in a loop, as fast as the coordinator answers. */
  | { kind: 'closed'; count: number }
  /** Each host runs one request-compute-report cycle every count / tasksPerSecond seconds. */
  | { kind: 'paced'; count: number; tasksPerSecondPerHost: number };

export type ToSim = { type: 'work'; mode: WorkMode } | { type: 'stop' } | { type: 'exit' };

/** One row per message: when it left (epoch ms), its round trip (ms), and how many tasks or results it carried. */
export interface Samples {
  at: number[];
  ms: number[];
  n: number[];
}

export interface SimStats {
  requests: Samples;
  reports: Samples;
  tasks: number;
  accepted: number;
  rejected: number;
  /** Requests answered with no task. */
  empty: number;
  /** The first few failures, with how many there were in all. */
  errors: string[];
  errorCount: number;
  /** This process's own CPU time while working, ms. */
  cpuMs: number;
  /** For each host whose connection dropped while working: ms from the drop to its next task from another instance. */
  failoverMs: number[];
}

export function emptySimStats(): SimStats {
  return { requests: { at: [], ms: [], n: [] }, reports: { at: [], ms: [], n: [] }, tasks: 0, accepted: 0, rejected: 0, empty: 0, errors: [], errorCount: 0, cpuMs: 0, failoverMs: [] };
}

export type FromSim =
  | { type: 'ready'; connected: number; failed: number; connectMs: number; errors: string[]; rssBytes: number }
  | { type: 'stats'; stats: SimStats }
  | { type: 'error'; message: string };
