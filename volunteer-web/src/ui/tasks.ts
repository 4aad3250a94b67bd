// The task list, as BOINC Manager's Tasks tab: every task this browser was given (the latest
// 500, kept in IndexedDB), its project and app, where it stands, the time it computed and the
// time left, and once over what came of it, errors said in plain words with their message.
import { ACTIVE_STATES, explainError, type TaskState } from '../../../volunteer-core/task-history.js';
import { h, mount, setText } from '../dom.js';
import { credit, dateTime, duration, percent } from '../format.js';
import type { TaskRow, VolunteerView } from '../volunteer.js';
import type { Section } from './section.js';

type Filter = 'all' | 'active' | 'errors';
const SHOWN = 50;

const STATE_LABEL: Record<TaskState, string> = {
  fetched: 'Ready to start',
  running: 'Running',
  reporting: 'Ready to report',
  pending: 'Pending validation',
  valid: 'Valid',
  invalid: 'Invalid',
  error: 'Error',
  not_taken: 'Not taken',
  aborted: 'Aborted',
  given_back: 'Handed back',
};

export const isError = (r: Pick<TaskRow, 'state' | 'error'>) => r.state === 'error' || (r.state === 'reporting' && r.error !== undefined);

/** What came of a task, in words (and for errors, the app's or the sandbox's own message). */
function outcome(r: TaskRow): HTMLElement {
  switch (r.state) {
    case 'valid':
      return h('span', null, `+${credit(r.credit ?? 0)} credit: another volunteer got the same result`);
    case 'invalid':
      return h('span', null, 'No credit: the result did not match the others for this work unit');
    case 'pending':
      return h('span', { class: 'muted' }, 'Reported; waiting for another volunteer’s result to compare');
    case 'error':
    case 'not_taken':
    case 'reporting':
      if (!r.error) return h('span', { class: 'muted' }, r.state === 'reporting' ? 'Done; reporting' : '');
      return h(
        'span',
        { class: 'task-error' },
        h('strong', null, r.error.code),
        ': ',
        explainError(r.error.code),
        '.',
        r.error.message ? h('code', { class: 'task-message' }, r.error.message) : null,
      );
    case 'aborted':
    case 'given_back':
      return h('span', { class: 'muted' }, r.error?.message ? `Because ${r.error.message}` : '');
    default:
      return h('span', { class: 'muted' }, r.state === 'running' ? percent(r.progress) : '');
  }
}

export function tasksSection(): Section & { show(filter: Filter): void } {
  let filter: Filter = 'all';
  let last: VolunteerView | undefined;
  let more = false;
  const body = h('tbody');
  const note = h('p', { class: 'muted small', id: 'tasks-note' });
  const moreButton = h('button', { type: 'button', class: 'link', onclick: () => ((more = true), render()) }, 'Show all');
  const tabs = (['all', 'active', 'errors'] as const).map((f) => h('button', { type: 'button', role: 'tab', class: 'tab', 'data-filter': f, onclick: () => show(f) }));
  const table = h(
    'table',
    { class: 'board tasks', id: 'tasks' },
    h('thead', null, h('tr', null, h('th', null, 'Project · App'), h('th', null, 'Task'), h('th', null, 'State'), h('th', { class: 'num' }, 'Elapsed'), h('th', { class: 'num' }, 'Remaining'), h('th', null, 'Outcome'))),
    body,
  );

  const render = () => {
    const rows = last?.tasks ?? [];
    const errors = rows.filter(isError).length;
    const active = rows.filter((r) => ACTIVE_STATES.has(r.state)).length;
    const labels: Record<Filter, string> = { all: `All (${rows.length})`, active: `In progress (${active})`, errors: `Errors (${errors})` };
    for (const t of tabs) {
      const f = t.dataset.filter as Filter;
      setText(t, labels[f]);
      t.setAttribute('aria-selected', String(f === filter));
    }
    const shown = rows.filter((r) => (filter === 'all' ? true : filter === 'active' ? ACTIVE_STATES.has(r.state) : isError(r)));
    const visible = more ? shown : shown.slice(0, SHOWN);
    if (visible.length === 0) {
      mount(body, h('tr', null, h('td', { colspan: '6', class: 'muted empty' }, filter === 'errors' ? 'No errors.' : 'No tasks yet. They appear here as this browser gets them.')));
    } else {
      mount(
        body,
        visible.map((r) =>
          h(
            'tr',
            { 'data-task': String(r.taskId), 'data-state': r.state },
            h('td', null, h('span', { class: 'name' }, r.project), h('span', { class: 'team muted' }, r.app)),
            h('td', null, String(r.taskId), h('span', { class: 'team muted' }, dateTime(r.receivedAt))),
            h('td', { class: 'task-state' }, r.hold === 'suspended' ? 'Suspended' : r.hold === 'paused' ? 'Paused' : STATE_LABEL[r.state]),
            h('td', { class: 'num' }, r.state === 'fetched' && r.elapsedNowMs === 0 ? '—' : duration(r.elapsedNowMs)),
            h('td', { class: 'num' }, r.remainingMs === undefined ? (ACTIVE_STATES.has(r.state) ? 'unknown' : '—') : duration(r.remainingMs)),
            h('td', { class: 'task-outcome' }, outcome(r)),
          ),
        ),
      );
    }
    moreButton.hidden = more || shown.length <= SHOWN;
    setText(note, 'Kept in this browser: the latest 500 tasks. Remaining time comes from a task’s progress, or before it reports any, from how long the app’s tasks took here.');
  };
  const show = (f: Filter) => {
    filter = f;
    more = false;
    render();
  };

  return {
    el: h('section', { class: 'card', id: 'tasks-card' }, h('h2', null, 'Tasks'), h('div', { class: 'tabs', role: 'tablist' }, tabs), h('div', { class: 'table-scroll' }, table), moreButton, note),
    update(view) {
      last = view;
      render();
    },
    show,
  };
}
