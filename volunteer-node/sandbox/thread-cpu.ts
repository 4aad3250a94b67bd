// CPU time of one thread of this process, from /proc (Linux). A worker thread stuck in an
// endless loop cannot report its own time, so the main thread reads it from outside.
import { readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on every Linux architecture Node supports

/** User + system CPU milliseconds of thread `tid`, or undefined if it cannot be read. */
export function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}
