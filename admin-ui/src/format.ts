// How numbers, times and sizes read in the UI.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const pctFmt = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });
const dateFmt = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
const clockFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const int = (n: number): string => intFmt.format(n);
const sig3 = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });
/** Credit: small amounts keep three significant digits, large ones are whole numbers. */
export const credit = (n: number): string => (n === 0 ? '0' : Math.abs(n) < 100 ? sig3.format(n) : intFmt.format(n));
export const oneDecimal = (n: number): string => dec1.format(n);
export const percent = (fraction: number): string => pctFmt.format(fraction);
export const dateTime = (ms: number): string => dateFmt.format(ms);
export const clock = (ms: number): string => clockFmt.format(ms);

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago", or a date; "in 5 min" for the future. */
export function relativeTime(ms: number, now = Date.now()): string {
  const diff = now - ms;
  const abs = Math.abs(diff);
  if (abs < 5_000) return 'just now';
  const unit = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 86_400_000 ? `${Math.round(abs / 3_600_000)} h` : abs < 30 * 86_400_000 ? `${Math.round(abs / 86_400_000)} d` : null;
  if (unit === null) return dateFmt.format(ms);
  return diff >= 0 ? `${unit} ago` : `in ${unit}`;
}

/** "850 ms", "42 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const sec = Math.round(ms / 1000);
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return sec % 60 ? `${min} min ${sec % 60} s` : `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 24) return min % 60 ? `${hours} h ${min % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${int(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? intFmt.format(v) : dec1.format(v)} ${units[i]}`;
}

export const shortHash = (hex: string, n = 12): string => (hex.length > n ? `${hex.slice(0, n)}…` : hex);

/**
 * Pretty-printed JSON, with arrays of plain values kept on one (wrapping) line so numeric
 * outputs stay readable; cut at `limit` characters.
 */
export function prettyJson(value: unknown, limit = 20_000): string {
  let text: string;
  try {
    text = formatJson(value, '');
  } catch {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}\n… (${int(text.length - limit)} more characters)` : text;
}

function formatJson(value: unknown, indent: string): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) return `[${value.map((v) => JSON.stringify(v) ?? 'null').join(', ')}]`;
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
}
