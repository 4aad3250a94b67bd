// A batch, live: its status is pushed over Socket.IO (no polling) and updates the numbers in
// place; the errors and the work-unit list reload, throttled, when the status shows they changed.
import { get, hasNumber, isRecord, post } from '../api';
import type { BatchStatus } from '../../../protocol/api';
import { h, mount } from '../dom';
import { dateTime, int } from '../format';
import { onConnectionState, watchBatch } from '../live';
import { card, pageHeader, throttle, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { timeCell } from '../ui/cells';
import { confirmDialog, toast } from '../ui/dialog';
import { busy } from '../ui/form';
import { errorBox, loading, notice } from '../ui/states';
import { errorsPanel } from './batch/errors-panel';
import { batchNumbers } from './batch/progress-card';
import { repairActions } from './batch/repair-actions';
import { workunitList } from './batch/workunit-list';

const isStatus = (v: unknown): v is BatchStatus => hasNumber<BatchStatus>('id')(v) && isRecord(v.workunits) && isRecord(v.replicas);

const resultsLink = (id: number, text: string, cls: string | null) => h('a', { class: cls, href: `/api/v1/batches/${id}/results`, download: `batch-${id}-results.ndjson` }, text);

function cancelButton(batchId: number, openWorkunits: () => number): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'btn btn-danger' }, 'Cancel batch');
  button.addEventListener('click', () => {
    void (async () => {
      const open = openWorkunits();
      const ok = await confirmDialog(
        'Cancel this batch?',
        h('p', null, `The ${int(open)} open work unit${open === 1 ? '' : 's'} will be cancelled, and tasks out on volunteers aborted. Finished results stay available. This cannot be undone.`),
        'Cancel batch',
      );
      if (!ok) return;
      await busy(button, 'Cancelling…', async () => {
        const res = await post<{ cancelled: number }>(`/batches/${batchId}/cancel`, {}, hasNumber('cancelled'));
        if (!res.ok) return toast(res.error.message, 'error');
        toast(`${int(res.value.cancelled)} work units cancelled`, 'success');
      });
    })();
  });
  return button;
}

/** Where the fix for why a batch cannot move is made, if in this UI. */
function fixLink(s: BatchStatus): HTMLElement | null {
  const codes = new Set(s.blocked.map((b) => b.code));
  if (codes.has('app_broken') || codes.has('no_version')) return h('a', { href: `#/projects/${s.projectId}` }, `Manage the versions of ${s.appName}`);
  if (codes.has('project_paused')) return h('a', { href: `#/projects/${s.projectId}` }, `Resume ${s.projectName}`);
  return null;
}

/** The page's parts, built from the first status; `update` applies every later one. */
function batchView(id: number, live: HTMLElement, openWorkunits: () => number, apply: (s: BatchStatus) => void) {
  const numbers = batchNumbers();
  const errors = errorsPanel(id);
  const workunits = workunitList(id);
  const header = h('div');
  const banner = h('div');
  const blocked = h('div');
  const cancel = cancelButton(id, openWorkunits);
  const reloadErrors = throttle(() => void errors.reload(), 3_000);
  const reloadWorkunits = throttle(() => workunits.refresh(), 1_500);

  let lastState = '';
  let lastErrors = '';
  let lastCounts = '';
  let lastBlocked = '';
  let latest: BatchStatus | null = null;
  const update = (s: BatchStatus) => {
    latest = s;
    const why = s.blocked.map((b) => b.message).join('\n');
    if (why !== lastBlocked) {
      lastBlocked = why;
      mount(
        blocked,
        s.blocked.length === 0
          ? null
          : notice(
              'warning',
              h('strong', null, 'This batch cannot move. '),
              h('ul', { class: 'blocked-reasons' }, ...s.blocked.map((b) => h('li', { 'data-code': b.code }, b.message))),
              fixLink(s),
            ),
      );
    }
    const state = `${s.status}|${s.name}|${s.appVersion}|${s.archived}|${s.workunits.failed > 0}`;
    if (state !== lastState) {
      if (lastState && s.status !== 'active') {
        // Just finished or cancelled: show the final lists now, not after the throttle.
        reloadErrors.cancel();
        reloadWorkunits.cancel();
        void errors.reload();
        workunits.refresh();
      }
      lastState = state;
      document.title = `${s.name} · volunteer-grid`;
      mount(
        header,
        pageHeader(s.name || `Batch ${s.id}`, {
          crumbs: [
            { label: 'Projects', href: '#/projects' },
            { label: s.projectName, href: `#/projects/${s.projectId}` },
          ],
          badge: [badge(s.status), s.archived ? badge('archived', 'grey') : null, live],
          subtitle: [
            'App ',
            h('strong', null, s.appName),
            ' ',
            h('span', { class: 'pinned' }, s.appVersion === null ? '(newest version)' : `(pinned to version ${s.appVersion})`),
            ` · batch #${s.id}`,
            s.clientKey ? [' · client key ', h('code', null, s.clientKey)] : null,
            ' · created ',
            timeCell(s.createdAt),
          ],
          actions: [
            h('a', { class: 'btn', href: `#/batches/${s.id}/validation` }, 'Validation'),
            resultsLink(s.id, 'Download results', 'btn btn-primary'),
            repairActions(s, () => latest ?? s, apply),
            s.status === 'active' ? cancel : null,
          ],
        }),
      );
      const failed = s.workunits.failed;
      mount(
        banner,
        s.status === 'done'
          ? notice(
              'success',
              h('strong', null, 'Batch complete. '),
              `Every work unit finished${s.finishedAt ? ` at ${dateTime(s.finishedAt)}` : ''}. `,
              resultsLink(s.id, 'Download the results', null),
              '.',
              failed ? ` ${int(failed)} failed: once the cause is fixed (a new version of the app, say), retry them.` : null,
            )
          : s.status === 'cancelled'
            ? notice('warning', h('strong', null, 'Cancelled. '), 'Open work units were cancelled; finished results can still be downloaded.')
            : null,
        s.archived ? notice('info', h('strong', null, 'Archived. '), 'The project leaves it out of its batch list unless asked to show archived batches; everything here stays readable.') : null,
      );
    }
    numbers.update(s);
    const wu = s.workunits;
    const errorKey = `${s.replicas.clientError}|${s.replicas.noReply}|${wu.failed}`;
    if (lastErrors && errorKey !== lastErrors) reloadErrors();
    lastErrors = errorKey;
    const counts = `${wu.active}|${wu.done}|${wu.failed}|${wu.cancelled}`;
    if (lastCounts && counts !== lastCounts) reloadWorkunits();
    lastCounts = counts;
  };

  return {
    el: [
      header,
      banner,
      blocked,
      numbers.progress,
      h('div', { class: 'grid-2' }, card('Throughput', numbers.chart), card('Replicas', numbers.replicas)),
      card('Errors', errors.el, { className: 'card-flush' }),
      card('Work units', workunits.el, { className: 'card-flush' }),
    ],
    update,
    tick: numbers.tick,
    dispose() {
      reloadErrors.cancel();
      reloadWorkunits.cancel();
    },
  };
}

export function batchPage(ctx: PageContext): Page {
  const id = Number(ctx.params.id);
  const root = h('div', { class: 'batch-page' }, loading('Loading the batch…'));
  let status: BatchStatus | null = null;
  let view: ReturnType<typeof batchView> | null = null;
  const cleanups: (() => void)[] = [];
  const fail = (message: string, title: string) => mount(root, pageHeader('Batch', { crumbs: [{ label: 'Projects', href: '#/projects' }] }), errorBox(message, title));

  const live = h('span', { class: 'live live-connecting' }, 'Connecting…');
  cleanups.push(
    onConnectionState((state) => {
      live.className = `live live-${state}`;
      live.textContent = state === 'live' ? 'Live' : state === 'offline' ? 'Reconnecting…' : 'Connecting…';
    }),
  );

  const apply = (s: BatchStatus) => {
    status = s;
    // Live updates keep coming (a retry opens a batch again), but a finished batch shows no badge for them.
    live.hidden = s.status !== 'active';
    if (!view) {
      view = batchView(id, live, () => status?.workunits.active ?? 0, apply);
      cleanups.push(view.dispose);
      mount(root, view.el);
    }
    view.update(s);
  };

  cleanups.push(
    watchBatch(id, apply, (e) => {
      if (!status) fail(e.message, e.code === 'not_found' ? 'No such batch' : 'Cannot follow this batch');
      else toast(`Live updates stopped: ${e.message}`, 'error');
    }),
  );
  // The first paint need not wait for the socket; pushes replace it.
  void get<BatchStatus>(`/batches/${id}`, isStatus).then((res) => {
    if (status) return;
    if (res.ok) apply(res.value);
    else fail(res.error.message, res.error.status === 404 ? 'No such batch' : 'Could not load the batch');
  });
  // Between pushes the clocks still move: elapsed time every second, the chart's axis every 5.
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
    if (view && status?.status === 'active') view.tick(status, ticks % 5 === 0);
  }, 1_000);
  cleanups.push(() => clearInterval(timer));

  return { title: 'Batch', el: root, dispose: () => cleanups.forEach((c) => c()) };
}
