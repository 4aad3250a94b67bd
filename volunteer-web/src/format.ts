// Numbers and keys as people read them.

export function credit(n: number): string {
  if (n === 0) return '0';
  if (n < 0.01) return n.toPrecision(2);
  if (n < 100) return n.toFixed(2);
  return Math.round(n).toLocaleString('en');
}

export function count(n: number): string {
  return n.toLocaleString('en');
}

/**
 * The whole percent a progress bar at `fraction` shows. Rounded down (100% only at the end), but
 * past floating-point error first: 0.29 × 100 is 28.999999999999996, and a bare floor put "28%"
 * beside a bar at 29%.
 */
export function percent(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  return `${Math.floor(Math.round(clamped * 1e6) / 1e4)}%`;
}

/** A key's first 128 bits in groups of four hex digits: enough to compare by eye. */
export function fingerprint(keyHex: string): string {
  return (keyHex.slice(0, 32).match(/.{4}/g) ?? []).join(' ');
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function date(ms: number): string {
  return new Date(ms).toLocaleDateString('en', { year: 'numeric', month: 'short', day: 'numeric' });
}

/** A duration as BOINC Manager shows it: h:mm:ss (m:ss under an hour). */
export function duration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString('en', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
}
