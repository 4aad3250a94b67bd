// The daemon's schedule: the hours of the day (local time) in which it computes, as
// "22:00-07:00" or several windows "08:00-09:00,12:00-14:00". Pure: parsing, whether a moment
// is inside, and when that next changes.

export interface ComputeHours {
  /** As written, normalised: "22:00–07:00, 12:00–14:00". */
  readonly text: string;
  /** Windows as [start, end) minutes of the day; end <= start wraps past midnight. */
  readonly windows: readonly (readonly [number, number])[];
}

const WINDOW = /^(\d{1,2}):?(\d{2})?\s*-\s*(\d{1,2}):?(\d{2})?$/;

/** Parses "HH:MM-HH:MM[,…]" (minutes optional: "22-7"); an error in words for a bad one. */
export function parseComputeHours(spec: string): ComputeHours | { error: string } {
  const windows: [number, number][] = [];
  for (const part of spec.split(',').map((p) => p.trim())) {
    const m = WINDOW.exec(part);
    if (!m) return { error: `"${part}" is not a window of hours like 22:00-07:00` };
    const start = Number(m[1]) * 60 + Number(m[2] ?? 0);
    const end = Number(m[3]) * 60 + Number(m[4] ?? 0);
    if (Number(m[1]) > 24 || Number(m[3]) > 24 || start > 24 * 60 || end > 24 * 60 || Number(m[2] ?? 0) > 59 || Number(m[4] ?? 0) > 59) {
      return { error: `"${part}" has a time that is not on a clock` };
    }
    if (start === end) return { error: `"${part}" is empty (it starts when it ends)` };
    windows.push([start % (24 * 60), end % (24 * 60)]);
  }
  const hhmm = (min: number) => `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
  return { windows, text: windows.map(([s, e]) => `${hhmm(s)}–${hhmm(e)}`).join(', ') };
}

const minuteOfDay = (d: Date) => d.getHours() * 60 + d.getMinutes();

function inside([start, end]: readonly [number, number], minute: number): boolean {
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

export function withinHours(hours: ComputeHours, at: Date): boolean {
  const minute = minuteOfDay(at);
  return hours.windows.some((w) => inside(w, minute));
}

/** The next whole minute at which being inside the hours changes (within a day), or undefined if never. */
export function nextChange(hours: ComputeHours, at: Date): Date | undefined {
  const now = withinHours(hours, at);
  const t = new Date(at);
  t.setSeconds(0, 0);
  for (let i = 1; i <= 24 * 60; i++) {
    t.setMinutes(t.getMinutes() + 1);
    if (withinHours(hours, t) !== now) return new Date(t);
  }
  return undefined;
}
