// What the peer scenario and its processes say to each other over Node's IPC channel.
import type { Variant } from './peer-jobs.js';

export interface WorkersConfig {
  port: number;
  /** One BullMQ Worker per entry, each with its own connections. */
  workers: { name: string; queue: string }[];
  /** Jobs one Worker runs at once. */
  concurrency: number;
}

export interface DriverConfig {
  port: number;
  variant: Variant;
  /** Flow variant: parents the validator Worker runs at once. */
  validatorConcurrency: number;
  /** Plain variant: the events streams' length, long enough that the validator never misses a completion. */
  eventsMaxLen: number;
  /** Work units per addBulk call (the coordinator's submission streams 1,000 lines a chunk). */
  unitsPerBulk: number;
}

export type ToChild = { type: 'run'; phase: string; units: number } | { type: 'counts' } | { type: 'exit' };

export interface PhaseDone {
  type: 'done';
  phase: string;
  /** Epoch ms: before the first addBulk, after the last one, when the last canonical result was recorded. */
  startedAt: number;
  addedAt: number;
  finishedAt: number;
  canonical: number;
  disagreed: number;
  sameWorker: number;
}

export type FromChild =
  | { type: 'ready' }
  | PhaseDone
  /** Jobs each Worker ran, by name. */
  | { type: 'counts'; processed: Record<string, number> }
  | { type: 'error'; message: string };
