// When a volunteer computes, as BOINC's computing preferences put it: always, only in chosen
// hours of the day, or only when the computer is idle (no input for some minutes). Pure: the
// caller says what time it is where the volunteer is and when it last saw input.

export type ScheduleMode = 'always' | 'hours' | 'idle';

export interface Schedule {
  mode: ScheduleMode;
  /** 'hours': from this hour (0–23) up to, not including, `toHour`; past midnight when from > to; all day when equal. */
  fromHour: number;
  toHour: number;
  /** 'idle': minutes without input before computing starts. */
  idleMinutes: number;
}

export interface ScheduleInput {
  now: number;
  /** The local hour and minute now (0–23, 0–59). */
  hour: number;
  /** When input was last seen (the page's own, or the system's where the browser tells). */
  lastInputAt: number;
  /** Whether the system says the user is idle (the Idle Detection API); undefined where unknown. */
  systemIdle?: boolean;
}

export const inHours = (hour: number, from: number, to: number): boolean => (from === to ? true : from < to ? hour >= from && hour < to : hour >= from || hour < to);

const hh = (h: number) => `${String(h).padStart(2, '0')}:00`;

export function hoursText(from: number, to: number): string {
  return from === to ? 'all day' : `${hh(from)}–${hh(to)}`;
}

/** Why the schedule says not to compute now, or undefined when it may. */
export function scheduleBlocks(s: Schedule, input: ScheduleInput): string | undefined {
  if (s.mode === 'hours') return inHours(input.hour, s.fromHour, s.toHour) ? undefined : `outside your computing hours (${hoursText(s.fromHour, s.toHour)})`;
  if (s.mode === 'idle') {
    if (input.systemIdle === true) return undefined;
    if (input.systemIdle === false) return 'you are using this computer';
    return input.now - input.lastInputAt >= s.idleMinutes * 60_000 ? undefined : 'you are using this computer';
  }
  return undefined;
}
