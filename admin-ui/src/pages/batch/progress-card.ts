// The live numbers of a batch: percent finished, the segmented bar, throughput, ETA, elapsed
// time and failures; the replica counts by state; the throughput chart. Updated in place from
// each pushed status.
import type { BatchStatus, ReplicaCounts } from '../../../../protocol/api';
import { h, mount, type Child } from '../../dom';
import { dateTime, duration, int, oneDecimal, percent } from '../../format';
import { throughputChart } from '../../ui/chart';
import { batchFraction, progressBar } from '../../ui/progress';

const REPLICA_STATES: [keyof ReplicaCounts, string, string][] = [
  ['unsent', 'Unsent', 'grey'],
  ['inProgress', 'In progress', 'blue'],
  ['success', 'Success', 'green'],
  ['clientError', 'Client error', 'red'],
  ['noReply', 'No reply', 'amber'],
  ['aborted', 'Aborted', 'grey'],
  ['abandoned', 'Abandoned', 'amber'],
  ['notNeeded', 'Not needed', 'grey'],
];

function metric(label: string): { el: HTMLElement; set(value: Child, sub?: Child): void } {
  const value = h('div', { class: 'metric-value' });
  const sub = h('div', { class: 'metric-sub' });
  return {
    el: h('div', { class: 'metric' }, h('div', { class: 'metric-label' }, label), value, sub),
    set(v, s) {
      mount(value, v);
      mount(sub, s ?? '');
    },
  };
}

export interface BatchNumbers {
  /** The progress card. */
  progress: HTMLElement;
  replicas: HTMLElement;
  chart: HTMLElement;
  update(s: BatchStatus): void;
  /** Moves the clocks on between pushes (elapsed time every call, the chart's axis now and then). */
  tick(s: BatchStatus, redrawChart: boolean): void;
}

export function batchNumbers(): BatchNumbers {
  const bar = progressBar('Batch progress');
  const bigPercent = h('div', { class: 'big-number num' });
  const finishedLine = h('div', { class: 'muted' });
  const mThroughput = metric('Throughput');
  const mEta = metric('Estimated time left');
  const mElapsed = metric('Elapsed');
  const mFailed = metric('Failed work units');
  const replicaValues = REPLICA_STATES.map(() => h('div', { class: 'tile-value num' }));
  const chart = h('div', { class: 'chart-slot' });

  const showElapsed = (s: BatchStatus) => {
    const end = s.finishedAt ?? Date.now();
    mElapsed.set(duration(Math.max(0, end - s.createdAt)), s.finishedAt ? `finished ${dateTime(s.finishedAt)}` : `since ${dateTime(s.createdAt)}`);
  };

  return {
    progress: h(
      'section',
      { class: 'card', 'aria-label': 'Progress' },
      h('div', { class: 'card-body progress-card' }, h('div', null, bigPercent, finishedLine), bar.el, h('div', { class: 'metrics' }, mThroughput.el, mEta.el, mElapsed.el, mFailed.el)),
    ),
    replicas: h(
      'div',
      { class: 'tiles' },
      REPLICA_STATES.map(([, label, tone], i) => h('div', { class: `tile tile-${tone}` }, replicaValues[i]!, h('div', { class: 'tile-label' }, label))),
    ),
    chart,
    update(s) {
      const wu = s.workunits;
      const finished = wu.done + wu.failed + wu.cancelled;
      const computed = wu.done + wu.failed;
      bar.update(wu);
      bigPercent.textContent = percent(Math.floor(batchFraction(s.status, wu) * 1000) / 1000);
      finishedLine.textContent =
        s.status === 'cancelled'
          ? `${int(computed)} of ${int(wu.total)} work units computed · ${int(wu.cancelled)} cancelled`
          : `${int(finished)} of ${int(wu.total)} work units finished${wu.cancelled ? ` · ${int(wu.cancelled)} cancelled` : ''}`;
      mThroughput.set(`${oneDecimal(s.throughput.workunitsPerSecond)}/s`, `work units, last ${duration(s.throughput.windowMs)}`);
      if (s.status === 'done') mEta.set('Done', 'every work unit finished');
      else if (s.status === 'cancelled') mEta.set('—', 'cancelled');
      else if (s.etaMs === null) mEta.set('Unknown', 'waiting for the first results');
      else mEta.set(duration(s.etaMs), 'at the current rate');
      showElapsed(s);
      mFailed.set(int(wu.failed), wu.total ? `${percent(wu.failed / wu.total)} of all` : '');
      REPLICA_STATES.forEach(([key], i) => (replicaValues[i]!.textContent = int(s.replicas[key] ?? 0)));
      mount(chart, throughputChart(s));
    },
    tick(s, redrawChart) {
      showElapsed(s);
      if (redrawChart) mount(chart, throughputChart(s));
    },
  };
}
