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

/** Short names of why a batch cannot move, for the ETA's line (the full reasons are above it). */
const STALLED: Record<BatchStatus['blocked'][number]['code'], string> = {
  project_paused: 'its project is paused',
  no_version: 'no version of the app may be sent',
  app_broken: 'the app version is broken',
  no_hosts: 'no volunteer is connected',
  no_eligible_hosts: 'no connected volunteer may take it',
  all_failing: 'every task fails',
};

/**
 * The ETA and what it rests on. The coordinator's `etaMs` divides by the last minute's
 * throughput; when nothing finished in that minute (a batch's tail on slow hosts) it is null,
 * and the average rate over the batch's life stands in, said as such.
 */
export function eta(s: BatchStatus, now = Date.now()): [value: string, why: string] {
  if (s.status === 'done') return ['Done', 'every work unit finished'];
  if (s.status === 'cancelled') return ['—', 'cancelled'];
  if (s.blocked.length > 0) return ['Stalled', `${s.blocked.map((b) => STALLED[b.code] ?? b.code).join('; ')} (see above)`];
  if (s.etaMs !== null) return [duration(s.etaMs), 'at the current rate'];
  const wu = s.workunits;
  const computed = wu.done + wu.failed;
  const out = s.replicas.inProgress;
  if (computed === 0) return ['Unknown', out > 0 ? `waiting for the first results (${int(out)} task${out === 1 ? '' : 's'} out)` : 'waiting for the first results'];
  const life = Math.max(1, now - s.createdAt);
  return [`about ${duration((wu.active * life) / computed)}`, `at the average rate so far: none finished in the last ${duration(Math.ceil(s.throughput.windowMs / 1000) * 1000)}`];
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
      mEta.set(...eta(s));
      showElapsed(s);
      mFailed.set(int(wu.failed), wu.total ? `${percent(wu.failed / wu.total)} of all` : '');
      REPLICA_STATES.forEach(([key], i) => (replicaValues[i]!.textContent = int(s.replicas[key] ?? 0)));
      mount(chart, throughputChart(s));
    },
    tick(s, redrawChart) {
      showElapsed(s);
      if (s.etaMs === null) mEta.set(...eta(s));
      if (redrawChart) mount(chart, throughputChart(s));
    },
  };
}
