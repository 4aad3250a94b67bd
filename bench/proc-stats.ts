// CPU time and memory of another process, read from Linux's /proc (Node offers them only for
// itself). CPU is user + system time of all its threads; memory is its resident set.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcSample {
  /** user + system CPU time since the process started, ms */
  cpuMs: number;
  /** user + system CPU time of its children that it has waited for (e.g. redis-server's AOF rewrites), ms */
  childrenCpuMs: number;
  /** resident set size, bytes */
  rssBytes: number;
  /** peak resident set size, bytes */
  peakRssBytes: number;
  at: number;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // what Linux uses nearly everywhere
    }
  }
  return ticksPerSecond;
}

export function sampleProcess(pid: number): ProcSample {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  // cutime (16) and cstime (17).
  const childTicks = Number(fields[13]) + Number(fields[14]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { cpuMs: (ticks * 1000) / clockTicks(), childrenCpuMs: (childTicks * 1000) / clockTicks(), rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), at: Date.now() };
}

export function cpuDelta(before: ProcSample, after: ProcSample): { cpuMs: number; wallMs: number; cores: number } {
  const cpuMs = after.cpuMs - before.cpuMs;
  const wallMs = after.at - before.at;
  return { cpuMs, wallMs, cores: wallMs > 0 ? cpuMs / wallMs : 0 };
}

export const MB = 1024 * 1024;
