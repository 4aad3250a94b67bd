// Time for the volunteer engine: timers that never keep a Node process alive on their own
// (the daemon decides when it exits), and a seam for tests.

export type TimerId = ReturnType<typeof setTimeout>;

export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId | undefined): void;
  setInterval(run: () => void, ms: number): TimerId;
  clearInterval(id: TimerId | undefined): void;
}

/** Node's timers have unref(); the browser's are numbers and need nothing. */
export function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => unref(setTimeout(run, ms)),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (run, ms) => unref(setInterval(run, ms)),
  clearInterval: (id) => clearInterval(id),
};
