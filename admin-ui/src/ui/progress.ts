// The batch progress bar: one segment per work-unit state, widths set through the CSSOM
// (style attributes are refused by the CSP; element.style is not).
import type { WorkunitCounts } from '../../../protocol/api';
import { h } from '../dom';
import { int, percent } from '../format';

type Counts = WorkunitCounts & { total: number };

const SEGMENTS = [
  ['done', 'Done'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
  ['active', 'Active'],
] as const;

export interface ProgressBar {
  el: HTMLElement;
  update(counts: Counts): void;
}

export function progressBar(label: string, withLegend = true): ProgressBar {
  const segments = SEGMENTS.map(([key]) => h('div', { class: `seg seg-${key}` }));
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100 }, segments);
  const legendValues = SEGMENTS.map(() => h('strong', { class: 'num' }, '0'));
  const legend = h(
    'ul',
    { class: 'legend' },
    SEGMENTS.map(([key, text], i) => h('li', null, h('span', { class: `swatch seg-${key}`, 'aria-hidden': 'true' }), `${text} `, legendValues[i]!)),
  );
  const el = h('div', { class: 'progress-block' }, bar, withLegend ? legend : null);
  return {
    el,
    update(c) {
      const total = Math.max(c.total, c.done + c.failed + c.cancelled + c.active, 1);
      SEGMENTS.forEach(([key], i) => {
        segments[i]!.style.width = `${(c[key] / total) * 100}%`;
        segments[i]!.title = `${SEGMENTS[i]![1]}: ${int(c[key])}`;
        legendValues[i]!.textContent = int(c[key]);
      });
      const finished = c.done + c.failed + c.cancelled;
      bar.setAttribute('aria-valuenow', String(Math.floor((finished / total) * 100)));
      bar.setAttribute('aria-valuetext', `${percent(finished / total)} finished`);
    },
  };
}

/**
 * How far a batch got, 0..1: finished work units over all of them, except that a cancelled
 * batch counts only what was computed (its cancelled units are finished, not done).
 */
export function batchFraction(status: 'active' | 'done' | 'cancelled', c: Counts): number {
  if (!c.total) return 0;
  return (status === 'cancelled' ? c.done + c.failed : c.done + c.failed + c.cancelled) / c.total;
}

/** A one-line bar for tables (a fraction 0..1). */
export function miniBar(fraction: number, tone: 'green' | 'red' | 'amber' | 'blue' = 'blue'): HTMLElement {
  const fill = h('span', { class: `mini-fill mini-${tone}` });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return h('span', { class: 'mini-bar', 'aria-hidden': 'true' }, fill);
}

/** Done/failed/cancelled/active of a batch or project, small. */
export function stackedMini(c: WorkunitCounts): HTMLElement {
  const total = Math.max(1, c.done + c.failed + c.cancelled + c.active);
  const bar = h('span', { class: 'mini-bar mini-stack', role: 'img', 'aria-label': `${int(c.done)} of ${int(total)} done` });
  for (const key of ['done', 'failed', 'cancelled'] as const) {
    const seg = h('span', { class: `seg seg-${key}` });
    seg.style.width = `${(c[key] / total) * 100}%`;
    bar.append(seg);
  }
  return bar;
}
