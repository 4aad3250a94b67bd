// Table cells that read the same everywhere.
import { h, type Child } from '../dom';
import { dateTime, relativeTime, shortHash } from '../format';

/** A relative time ("3 min ago") with the exact date on hover. */
export function timeCell(ms: number | null | undefined): HTMLElement | string {
  if (ms === null || ms === undefined) return '—';
  return h('time', { datetime: new Date(ms).toISOString(), title: dateTime(ms) }, relativeTime(ms));
}

export function hashCell(hex: string | null | undefined, n = 12): HTMLElement | string {
  if (!hex) return '—';
  return h('code', { class: 'hash', title: hex }, shortHash(hex, n));
}

export function orDash(v: string | null | undefined): string {
  return v === null || v === undefined || v === '' ? '—' : v;
}

/** Text with a line-break opportunity after each dot, slash, underscore and @ (DNS names, paths). */
export function breakable(text: string): Child[] {
  return text.split(/(?<=[./_@])/).flatMap((part, i) => (i === 0 ? [part] : [h('wbr'), part]));
}
