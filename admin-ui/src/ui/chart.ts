// Throughput over time as an inline SVG bar chart: work units finished per bucket, done and
// failed stacked, with a y scale and clock times along the x axis.
import type { BatchStatus } from '../../../protocol/api';
import { h, s } from '../dom';
import { clock, duration, int } from '../format';

const W = 600;
const H = 250;
const PAD = { left: 40, right: 8, top: 22, bottom: 28 };

interface Bucket {
  t: number;
  done: number;
  failed: number;
}

/**
 * The series' buckets in time order, continued with empty buckets up to `endAt` while the
 * batch runs (the server sends every bucket up to its own now); the last 120 at most.
 */
function buckets(series: BatchStatus['series'], endAt: number): Bucket[] {
  const { bucketMs, points } = series;
  if (points.length === 0 || bucketMs <= 0) return [];
  const data = [...points].sort((a, b) => a.t - b.t).map((p) => ({ t: p.t, done: p.done, failed: p.failed }));
  for (let t = data[data.length - 1]!.t + bucketMs; t <= endAt && data.length < 240; t += bucketMs) data.push({ t, done: 0, failed: 0 });
  return data.slice(-120);
}

/** A y scale of whole, round steps (1, 2, 5 × 10^k) with at most about five ticks. */
function scale(v: number): { max: number; step: number } {
  const raw = Math.max(1, v) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  return { max: Math.max(step, Math.ceil(v / step) * step), step };
}

export function throughputChart(status: BatchStatus): HTMLElement | SVGElement {
  const end = status.finishedAt ?? Date.now();
  const data = buckets(status.series, end);
  if (data.length === 0 || data.every((b) => b.done + b.failed === 0)) {
    return h('div', { class: 'chart-empty' }, 'No work unit has finished yet. The chart fills in as results are validated.');
  }
  const { max, step } = scale(Math.max(...data.map((b) => b.done + b.failed)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / data.length;
  const barW = Math.min(36, Math.max(1, slot * 0.78));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;

  const ticks = Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step);
  const grid = ticks.map((v) =>
    s(
      'g',
      { class: 'tick' },
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'gridline' }),
      s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, int(v)),
    ),
  );
  const bars = data.map((b, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    return s(
      'g',
      { class: 'bar' },
      s('title', null, `${clock(b.t)} – ${int(b.done)} done, ${int(b.failed)} failed`),
      b.done > 0 ? s('rect', { x, width: barW, y: y(b.done), height: y(0) - y(b.done), class: 'bar-done' }) : null,
      b.failed > 0 ? s('rect', { x, width: barW, y: y(b.done + b.failed), height: y(b.done) - y(b.done + b.failed), class: 'bar-failed' }) : null,
    );
  });
  const labelIdx = data.length === 1 ? [0] : [0, Math.floor((data.length - 1) / 2), data.length - 1];
  const xLabels = [...new Set(labelIdx)].map((i, k, all) =>
    s(
      'text',
      { x: PAD.left + i * slot + slot / 2, y: H - 10, 'text-anchor': all.length > 1 && k === 0 ? 'start' : k === all.length - 1 && all.length > 1 ? 'end' : 'middle' },
      clock(data[i]!.t),
    ),
  );
  return s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Work units finished per ${duration(status.series.bucketMs)}` },
    s('text', { x: W - PAD.right, y: 10, class: 'chart-unit', 'text-anchor': 'end' }, `work units finished per ${duration(status.series.bucketMs)}`),
    grid,
    bars,
    xLabels,
  );
}
