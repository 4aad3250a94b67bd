// What the volunteer is doing: the start/pause control with a plain-words status, a progress
// bar per sandbox worker, and the counts and credit so far.
import { h, mount, setText } from '../dom.js';
import { count, credit, percent } from '../format.js';
import type { SlotState } from '../sandbox/worker-pool.js';
import type { Volunteer, VolunteerView, WorkerView } from '../volunteer.js';
import type { Section } from './section.js';
import { explainError } from '../../../volunteer-core/task-history.js';
import { isError } from './tasks.js';
import { computingNote, waitingLine } from '../waiting-words.js';

export function statusLine(v: Volunteer, view: VolunteerView): string {
  const cores = v.settings.cores;
  const duty = v.settings.dutyPercent < 100 ? ` at ${v.settings.dutyPercent}% CPU` : '';
  switch (view.phase) {
    case 'stopped':
      return v.settings.joined ? 'Paused. Your tasks are kept and resume where they stopped.' : 'Nothing runs until you press Start. You can pause at any time.';
    case 'connecting':
      return 'Connecting to the coordinator…';
    case 'computing':
      return `Computing on ${cores} core${cores === 1 ? '' : 's'}${duty}. Thank you!${computingNote(view.limited)}`;
    case 'waiting':
      return waitingLine(view.limited);
    case 'paused':
      return `Paused while ${view.pauseReasons.join(' and ')}.`;
    case 'blocked':
      return view.keyMismatch ? 'Stopped: the coordinator’s key changed.' : (view.problem ?? 'Stopped.');
  }
}

export function heroSection(v: Volunteer, onToggle: () => void): Section {
  const button = h('button', { type: 'button', class: 'primary big', id: 'toggle', onclick: onToggle });
  const status = h('p', { class: 'status', id: 'status', role: 'status' });
  const total = h('span', { class: 'figure', id: 'credit-total' });
  const rac = h('span', { class: 'figure-note', id: 'credit-rac' });
  const el = h(
    'section',
    { class: 'hero card' },
    h(
      'div',
      { class: 'hero-copy' },
      h('h1', null, 'Lend your computer’s spare time to research'),
      h(
        'p',
        { class: 'lede' },
        'This page computes small pieces of research projects right here in your browser. Every task is signed by the coordinator and checked before it runs, ',
        'inside a sandbox with no access to the network, your files or other sites. Close the tab whenever you like.',
      ),
      h('div', { class: 'hero-actions' }, button, status),
    ),
    h('div', { class: 'hero-credit', 'aria-label': 'your credit' }, h('span', { class: 'figure-label' }, 'Your credit'), total, rac),
  );
  return {
    el,
    update(view) {
      setText(button, v.settings.running ? 'Pause' : v.settings.joined ? 'Resume' : 'Start volunteering');
      button.classList.toggle('running', v.settings.running);
      button.disabled = view.phase === 'blocked' && !v.settings.running;
      setText(status, statusLine(v, view));
      status.dataset.phase = view.phase;
      setText(total, credit(view.credit));
      setText(rac, `${credit(view.rac)} a day recently`);
    },
  };
}

const STATE_TEXT: Record<SlotState, string> = {
  starting: 'Starting its sandbox…',
  idle: 'Waiting for a task',
  running: 'Computing',
  resting: 'Resting (CPU limit)',
  pausing: 'Pausing at the next checkpoint…',
  paused: 'Paused',
};

export function workersSection(): Section {
  const list = h('ol', { class: 'workers', id: 'workers' });
  const queue = h('p', { class: 'muted small', id: 'queue' });
  const rows: { el: HTMLLIElement; title: HTMLElement; detail: HTMLElement; bar: HTMLProgressElement; pct: HTMLElement }[] = [];

  const row = () => {
    const title = h('span', { class: 'worker-title' });
    const detail = h('span', { class: 'worker-detail muted' });
    const bar = h('progress', { max: '1', value: '0' });
    const pct = h('span', { class: 'worker-pct' });
    const el = h('li', { class: 'worker' }, h('div', { class: 'worker-head' }, title, pct), bar, detail);
    return { el, title, detail, bar, pct };
  };

  const update = (w: WorkerView, r: (typeof rows)[number], i: number) => {
    r.el.dataset.state = w.state;
    r.el.dataset.sandbox = String(w.sandbox);
    r.el.dataset.sandboxTasks = String(w.sandboxTasks);
    const busy = w.taskId !== undefined;
    setText(r.title, busy ? `${w.project} · ${w.app}` : `Core ${i + 1}`);
    setText(r.detail, busy ? `Task ${w.taskId} · ${STATE_TEXT[w.state]}${w.resumed ? ' · resumed from its checkpoint' : ''}` : STATE_TEXT[w.state]);
    setText(r.pct, busy ? percent(w.progress) : '');
    r.bar.value = busy ? w.progress : 0;
    r.bar.classList.toggle('idle', !busy);
  };

  return {
    el: h('section', { class: 'card' }, h('h2', null, 'Workers'), h('p', { class: 'muted small' }, 'One sandboxed worker per core you share.'), list, queue),
    update(view) {
      while (rows.length < view.workers.length) {
        const r = row();
        rows.push(r);
        list.append(r.el);
      }
      while (rows.length > view.workers.length) rows.pop()!.el.remove();
      view.workers.forEach((w, i) => update(w, rows[i]!, i));
      const parts = [];
      if (view.queued > 0) parts.push(`${view.queued} task${view.queued === 1 ? '' : 's'} fetched ahead`);
      if (view.unreported > 0) parts.push(`${view.unreported} result${view.unreported === 1 ? '' : 's'} to report`);
      setText(queue, parts.join(' · '));
    },
  };
}

export function statsSection(showErrors: () => void): Section {
  const tile = (id: string, label: string, hint: string) => {
    const value = h('span', { class: 'tile-value', id });
    return { value, el: h('div', { class: 'tile', title: hint }, value, h('span', { class: 'tile-label' }, label)) };
  };
  const completed = tile('stat-completed', 'Tasks completed', 'results this browser computed and reported');
  const valid = tile('stat-valid', 'Valid', 'results confirmed by another volunteer’s identical result, with credit');
  const errors = tile('stat-errors', 'Errors', 'tasks that failed or were refused here, sent to another volunteer instead');
  // Errors are explained, not just counted: the latest in words, and a way to the whole list.
  const errorLine = h('p', { class: 'small error-line', id: 'latest-error', hidden: true });
  let shownError = '';
  return {
    el: h(
      'section',
      { class: 'card' },
      h('h2', null, 'Your contribution'),
      h('div', { class: 'tiles' }, completed.el, valid.el, errors.el),
      errorLine,
      h(
        'p',
        { class: 'muted small' },
        'A result counts as valid, and earns credit, once another volunteer computed the same task and got exactly the same answer. ',
        'Credit is in cobblestones: 200 a day for a computer doing a billion operations a second.',
      ),
    ),
    update(view) {
      setText(completed.value, count(view.stats.completed));
      setText(valid.value, count(view.valid));
      setText(errors.value, count(view.stats.errors));
      const latest = view.tasks.find((t) => isError(t));
      const key = latest ? `${latest.taskId}:${latest.error?.code}` : '';
      if (key === shownError) return;
      shownError = key;
      errorLine.hidden = !latest?.error;
      if (latest?.error) {
        mount(
          errorLine,
          h('strong', null, 'Latest error: '),
          `task ${latest.taskId} (${latest.project} · ${latest.app}), ${latest.error.code}: ${explainError(latest.error.code)}. `,
          h('a', { href: '#tasks-card', onclick: () => showErrors() }, 'See every error'),
        );
      }
    },
  };
}

export function bannerSection(v: Volunteer): Section {
  const el = h('div', { class: 'banner', role: 'alert', hidden: true });
  let shown = '';
  return {
    el,
    update(view) {
      const key = view.keyMismatch ? `key:${view.keyMismatch.presented}` : (view.problem ?? '');
      if (key === shown) return; // rebuilt only when it changes: its button stays clickable
      shown = key;
      if (view.keyMismatch) {
        el.hidden = false;
        el.dataset.kind = 'danger';
        mount(
          el,
          h('strong', null, 'The coordinator’s key changed.'),
          ' This browser trusts ',
          h('code', null, view.keyMismatch.trusted.slice(0, 16)),
          ', but the coordinator now presents ',
          h('code', null, view.keyMismatch.presented.slice(0, 16)),
          '. Nothing runs until you decide. Only trust the new key if the project told you it changed. ',
          h('button', { type: 'button', class: 'secondary', onclick: () => void v.acceptNewCoordinatorKey() }, 'Trust the new key'),
        );
      } else if (view.problem) {
        el.hidden = false;
        el.dataset.kind = 'warn';
        mount(el, view.problem);
      } else el.hidden = true;
    },
  };
}
