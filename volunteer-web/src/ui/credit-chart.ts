// Credit over time, like BOINC's statistics graphs: total credit or recent average credit per
// day (since the first credit: a week to a month), for all projects and for each, drawn as SVG from the receipts this
// browser verified and keeps (no library, no inline style: the page's CSP stays strict).
import { creditSeries, DAY_MS, type CreditSeries } from '../../../volunteer-core/credit-history.js';
import { h, mount, s, setText } from '../dom.js';
import { credit, date } from '../format.js';
import type { Volunteer } from '../volunteer.js';
import type { Section } from './section.js';

type Metric = 'total' | 'rac';
/** Days drawn: since the first credit, at least a week, at most a month. */
const MIN_DAYS = 7;
const MAX_DAYS = 30;
const W = 640;
const H = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
/** Projects drawn one by one; the rest only in "All projects". */
const MAX_PROJECT_LINES = 6;

const localDayStart = (ms: number) => {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
};

/** A round step for about four grid lines up to `max`. */
function gridStep(max: number): number {
  if (max <= 0) return 1;
  const raw = max / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
}

function chart(series: CreditSeries, metric: Metric): SVGSVGElement {
  const lines = [{ name: 'All projects', values: series[metric], cls: 'all' }, ...series.projects.slice(0, MAX_PROJECT_LINES).map((p, i) => ({ name: p.project, values: p[metric], cls: `p${i}` }))];
  const max = Math.max(0, ...lines.flatMap((l) => l.values));
  const step = gridStep(max);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (i: number) => PAD.left + (i * (W - PAD.left - PAD.right)) / Math.max(1, series.days.length - 1);
  const y = (v: number) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);
  const grid = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    grid.push(s('line', { class: 'grid', x1: String(PAD.left), x2: String(W - PAD.right), y1: String(y(v)), y2: String(y(v)) }));
    grid.push(s('text', { class: 'axis', x: String(PAD.left - 6), y: String(y(v) + 4), 'text-anchor': 'end' }, credit(v)));
  }
  const ticks = [0, Math.floor((series.days.length - 1) / 2), series.days.length - 1].map((i) =>
    s('text', { class: 'axis', x: String(x(i)), y: String(H - 8), 'text-anchor': i === 0 ? 'start' : i === series.days.length - 1 ? 'end' : 'middle' }, date(series.days[i]!)),
  );
  const label = metric === 'total' ? 'Total credit' : 'Recent average credit per day';
  return s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'credit-chart-title' },
    s('title', { id: 'credit-chart-title' }, `${label} over the last ${series.days.length} days: ${credit(series[metric].at(-1) ?? 0)} today`),
    grid,
    ticks,
    lines.reverse().map((l) =>
      s('polyline', { class: `series ${l.cls}`, 'data-series': l.name, fill: 'none', points: l.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ') }),
    ),
  );
}

export function creditChartSection(v: Volunteer): Section {
  let metric: Metric = 'total';
  let drawn = '';
  const holder = h('div', { class: 'chart-holder', id: 'credit-chart' });
  const legend = h('ul', { class: 'legend', id: 'credit-legend' });
  const note = h('p', { class: 'muted small' });
  const tabs = (
    [
      ['total', 'Total credit'],
      ['rac', 'Recent average'],
    ] as const
  ).map(([m, label]) => h('button', { type: 'button', role: 'tab', class: 'tab', 'data-metric': m, onclick: () => ((metric = m), (drawn = ''), draw()) }, label));

  const draw = () => {
    const receipts = v.creditReceipts();
    const today = localDayStart(Date.now());
    const key = `${metric}:${receipts.length}:${receipts.at(-1)?.entryId ?? 0}:${today}`;
    if (key === drawn) return;
    drawn = key;
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.metric === metric));
    const first = receipts.length > 0 ? Math.min(...receipts.map((r) => r.grantedAt)) : undefined;
    const since = first === undefined ? 0 : Math.round((today - localDayStart(first)) / DAY_MS) + 1;
    const series = creditSeries(receipts, { now: Date.now(), days: Math.min(MAX_DAYS, Math.max(MIN_DAYS, since)), dayStart: localDayStart, projectOf: v.history.projectOf, unknownProject: 'tasks no longer listed' });
    mount(holder, chart(series, metric));
    mount(
      legend,
      h('li', { class: 'all' }, h('span', { class: 'swatch' }), h('span', { class: 'legend-name' }, 'All projects'), h('span', { class: 'legend-figures' }, `${credit(series.total.at(-1) ?? 0)} total · ${credit(series.rac.at(-1) ?? 0)} a day`)),
      series.projects.map((p, i) =>
        h(
          'li',
          { class: i < MAX_PROJECT_LINES ? `p${i}` : 'rest', 'data-project': p.project },
          h('span', { class: 'swatch' }),
          h('span', { class: 'legend-name' }, p.project),
          h('span', { class: 'legend-figures' }, `${credit(p.total.at(-1) ?? 0)} total · ${credit(p.rac.at(-1) ?? 0)} a day`),
        ),
      ),
    );
    setText(
      note,
      receipts.length === 0
        ? 'Credit appears here once results are validated.'
        : `From ${receipts.length} signed credit receipt${receipts.length === 1 ? '' : 's'} this browser checked and keeps${first !== undefined && since > MAX_DAYS ? `, the first from ${date(first)}` : ''}. Recent average credit halves every week without new credit.`,
    );
  };

  return {
    el: h('section', { class: 'card' }, h('h2', null, 'Credit over time'), h('div', { class: 'tabs', role: 'tablist' }, tabs), holder, legend, note),
    update: draw,
  };
}
