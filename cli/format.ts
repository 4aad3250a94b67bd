// How the CLI writes amounts, durations, times and tables for people.

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(n < 10 ? 2 : 1);
}

/** 45s, 3m05s, 2h07m, 3d04h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function formatTime(ms: number | null | undefined): string {
  return ms == null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/**
 * Columns padded to their widest cell; numbers aligned right. The last column is shown whole:
 * its lines (a message may have several) go under it, and with `width` (a terminal's) they are
 * wrapped to fit beside the other columns.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[], options: { width?: number } = {}): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatCount(c) : printable(c))))];
  const last = header.length - 1;
  const widths = header.map((_, i) => (i === last ? 0 : Math.max(...cells.map((r) => String(r[i] ?? '').length))));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const indent = widths.slice(0, last).reduce((sum, w) => sum + w + 2, 0);
  // Too narrow a terminal for wrapping to help: lines as they are, under the column.
  const room = options.width === undefined ? Infinity : Math.max(options.width - 1 - indent, 24);
  return cells
    .map((r) => {
      const first = r.slice(0, last).map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!)));
      const lines = String(r[last] ?? '')
        .split('\n')
        .flatMap((line) => wrap(line, room));
      return [[...first, lines[0] ?? ''].join('  ').trimEnd(), ...lines.slice(1).map((l) => `${' '.repeat(indent)}${l}`.trimEnd())].join('\n');
    })
    .join('\n');
}

/** Words of `text` on lines of at most `width` characters; a longer word is cut. */
export function wrap(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '';
    }
    let rest = line === '' ? word : `${line} ${word}`;
    while (rest.length > width) {
      lines.push(rest.slice(0, width));
      rest = rest.slice(width);
    }
    line = rest;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * Text from elsewhere (a volunteer's error message, a host's name) with its control characters
 * made visible as \u001b and the like, so it cannot move the cursor or recolour a terminal;
 * line breaks stay, and tabs become spaces.
 */
export function printable(text: string): string {
  return text.replace(/\r\n?/g, '\n').replaceAll('\t', ' ').replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** "a", "a or b", "a, b or c". */
export function orList(values: readonly string[]): string {
  return values.length <= 1 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}
