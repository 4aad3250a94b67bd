// The volunteer's choices: how much of the machine to share and when to stop, and who they are
// on the leaderboards (a nickname and a team, through a volunteer account).
import { z } from 'zod';
import { h, setText } from '../dom.js';
import { MAX_CORES } from '../settings.js';
import type { IdleSupport } from '../idle.js';
import type { Volunteer } from '../volunteer.js';
import type { Section } from './section.js';

export function settingsSection(v: Volunteer, batteryKnown: () => boolean): Section {
  const s = v.settings;
  const coresOut = h('output', { for: 'cores', id: 'cores-out' });
  const cores = h('input', { type: 'range', id: 'cores', min: '1', max: String(MAX_CORES), step: '1', value: String(s.cores) });
  cores.addEventListener('input', () => setText(coresOut, coresText(Number(cores.value))));
  cores.addEventListener('change', () => v.setCores(Number(cores.value)));

  const dutyOut = h('output', { for: 'duty', id: 'duty-out' });
  const duty = h('input', { type: 'range', id: 'duty', min: '10', max: '100', step: '10', value: String(s.dutyPercent) });
  duty.addEventListener('input', () => setText(dutyOut, dutyText(Number(duty.value))));
  duty.addEventListener('change', () => v.setDuty(Number(duty.value)));

  const battery = h('input', { type: 'checkbox', id: 'pause-battery' });
  battery.checked = s.pauseOnBattery;
  battery.addEventListener('change', () => v.setPowerRules({ pauseOnBattery: battery.checked }));
  const batteryNote = h('span', { class: 'muted small' });

  const hidden = h('input', { type: 'checkbox', id: 'pause-hidden' });
  hidden.checked = s.pauseWhenHidden;
  hidden.addEventListener('change', () => v.setPowerRules({ pauseWhenHidden: hidden.checked }));

  // When to compute: always, in chosen hours, or only when the computer is idle.
  const mode = h(
    'select',
    { id: 'schedule-mode' },
    h('option', { value: 'always' }, 'Whenever this tab is open'),
    h('option', { value: 'hours' }, 'Only in these hours'),
    h('option', { value: 'idle' }, 'Only when I am not using the computer'),
  );
  mode.value = s.scheduleMode;
  mode.addEventListener('change', () => v.setSchedule({ scheduleMode: mode.value as typeof s.scheduleMode }));
  const hourSelect = (id: string, value: number) => {
    const el = h('select', { id }, Array.from({ length: 24 }, (_, hr) => h('option', { value: String(hr) }, `${String(hr).padStart(2, '0')}:00`)));
    el.value = String(value);
    return el;
  };
  const fromHour = hourSelect('from-hour', s.fromHour);
  const toHour = hourSelect('to-hour', s.toHour);
  fromHour.addEventListener('change', () => v.setSchedule({ fromHour: Number(fromHour.value) }));
  toHour.addEventListener('change', () => v.setSchedule({ toHour: Number(toHour.value) }));
  const hoursRow = h('div', { class: 'field', id: 'hours-row' }, h('label', { for: 'from-hour' }, 'From'), h('span', { class: 'inline' }, fromHour, ' to ', toHour), h('span', { class: 'muted small' }, 'this computer’s time'));
  const idleMinutes = h('input', { type: 'number', id: 'idle-minutes', min: '1', max: '1440', step: '1', value: String(Math.max(1, Math.round(s.idleMinutes))) });
  idleMinutes.addEventListener('change', () => {
    const m = Number(idleMinutes.value);
    if (Number.isFinite(m) && m >= 1 && m <= 1440) v.setSchedule({ idleMinutes: m });
  });
  const idleNote = h('p', { class: 'muted small', id: 'idle-support' });
  const askIdle = h('button', { type: 'button', class: 'secondary', id: 'ask-idle', onclick: () => void v.idle.requestSystem() }, 'Let this page know when the computer is idle');
  const idleRow = h('div', { class: 'idle-row' }, h('div', { class: 'field' }, h('label', { for: 'idle-minutes' }, 'After'), idleMinutes, h('span', { class: 'muted' }, 'minutes without input')), idleNote, askIdle);
  const scheduleNow = h('p', { class: 'small', id: 'schedule-now' });

  const maxTask = h('input', { type: 'number', id: 'max-task', min: '1', max: '1440', step: '1', value: String(Math.round(s.maxTaskMinutes)) });
  maxTask.addEventListener('change', () => {
    const m = Number(maxTask.value);
    if (Number.isFinite(m) && m >= 1 && m <= 1440) {
      s.maxTaskMinutes = m;
      v.setMaxTaskMinutes(m);
    }
  });

  const storage = (id: string, key: 'maxDiskMb' | 'maxCheckpointMb' | 'maxCheckpointTotalMb', max: number) => {
    const input = h('input', { type: 'number', id, min: '1', max: String(max), step: '1', value: String(Math.round(s[key])) });
    input.addEventListener('change', () => {
      const mb = Number(input.value);
      if (Number.isFinite(mb) && mb >= 1 && mb <= max) v.setStorageLimits({ [key]: mb });
    });
    return input;
  };

  const el = h(
    'section',
    { class: 'card' },
    h('h2', null, 'Settings'),
    h('div', { class: 'field' }, h('label', { for: 'cores' }, 'Cores to use'), cores, coresOut),
    h('div', { class: 'field' }, h('label', { for: 'duty' }, 'CPU use'), duty, dutyOut),
    h('p', { class: 'muted small' }, 'Below 100%, each worker rests between stretches of work (at checkpoints and between tasks), so your fan stays quiet.'),
    h('label', { class: 'check' }, battery, h('span', null, 'Pause while on battery '), batteryNote),
    h('label', { class: 'check' }, hidden, h('span', null, 'Pause while this tab is hidden')),
    h('div', { class: 'field' }, h('label', { for: 'schedule-mode' }, 'Compute'), mode),
    hoursRow,
    idleRow,
    scheduleNow,
    h(
      'details',
      { class: 'advanced' },
      h('summary', null, 'Advanced'),
      h('div', { class: 'field' }, h('label', { for: 'max-task' }, 'Stop a task after'), maxTask, h('span', { class: 'muted' }, 'minutes of computing')),
      h('div', { class: 'field' }, h('label', { for: 'max-disk' }, 'Storage for apps'), storage('max-disk', 'maxDiskMb', 1 << 20), h('span', { class: 'muted' }, 'MB, the least recently used go first')),
      h('div', { class: 'field' }, h('label', { for: 'max-checkpoint' }, 'Checkpoints of'), storage('max-checkpoint', 'maxCheckpointMb', 1024), h('span', { class: 'muted' }, 'MB at most, each')),
      h('div', { class: 'field' }, h('label', { for: 'max-checkpoint-total' }, 'and'), storage('max-checkpoint-total', 'maxCheckpointTotalMb', 1 << 20), h('span', { class: 'muted' }, 'MB at most for one task')),
    ),
  );
  return {
    el,
    update() {
      if (document.activeElement !== cores) {
        cores.value = String(s.cores);
        setText(coresOut, coresText(s.cores));
      }
      if (document.activeElement !== duty) {
        duty.value = String(s.dutyPercent);
        setText(dutyOut, dutyText(s.dutyPercent));
      }
      setText(batteryNote, batteryKnown() ? '' : '(this browser cannot tell)');
      if (document.activeElement !== mode) mode.value = s.scheduleMode;
      hoursRow.hidden = s.scheduleMode !== 'hours';
      idleRow.hidden = s.scheduleMode !== 'idle';
      const support = v.idle.state.support;
      idleNote.dataset.support = support;
      setText(idleNote, IDLE_SUPPORT_TEXT[support]);
      askIdle.hidden = support !== 'ask';
      const reason = v.scheduleReason();
      scheduleNow.hidden = s.scheduleMode === 'always';
      setText(scheduleNow, reason ? `Not computing now: ${reason}.` : 'The schedule allows computing now.');
      scheduleNow.dataset.kind = reason ? 'held' : 'ok';
    },
  };
}

/** Said plainly: what this browser lets the page know about the volunteer using the computer. */
const IDLE_SUPPORT_TEXT: Record<IdleSupport, string> = {
  system: 'This browser tells the page when nobody has used the computer (any window or app) for that long, or the screen is locked.',
  ask: 'For now the page sees only input on this page: typing or clicking in other windows counts as idle. The browser can tell the page about the whole computer if you allow it.',
  denied: 'This browser does not let the page know about the whole computer (the permission was refused), so it sees only input on this page: typing or clicking in other windows counts as idle.',
  none: 'This browser cannot tell the page whether the computer is in use, so it sees only input on this page: typing or clicking in other windows counts as idle. Choose hours instead if that matters.',
};

const coresText = (n: number) => `${n} of ${MAX_CORES}`;
const dutyText = (p: number) => (p >= 100 ? 'Full speed' : `${p}% of each core`);

const AccountReply = z.object({ userId: z.number(), accountKey: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/) });

export function youSection(v: Volunteer): Section {
  const s = v.settings;
  const nickname = h('input', { type: 'text', id: 'nickname', maxlength: '64', autocomplete: 'nickname', placeholder: 'Anonymous', value: s.nickname });
  const team = h('input', { type: 'text', id: 'team', maxlength: '64', placeholder: 'No team', value: s.team });
  const message = h('p', { class: 'small', id: 'you-message', role: 'status' });
  const save = h('button', { type: 'submit', class: 'secondary' }, 'Save');

  const keyField = h('input', { type: 'password', id: 'account-key', readonly: true, autocomplete: 'off', value: s.accountKey ?? '' });
  const reveal = h('button', { type: 'button', class: 'link' }, 'Show');
  reveal.addEventListener('click', () => {
    keyField.type = keyField.type === 'password' ? 'text' : 'password';
    setText(reveal, keyField.type === 'password' ? 'Show' : 'Hide');
  });
  const otherKey = h('input', { type: 'text', id: 'other-key', placeholder: 'Paste an account key', autocomplete: 'off' });
  const useKey = h('button', { type: 'button', class: 'secondary' }, 'Use this key');
  const leave = h('button', { type: 'button', class: 'link' }, 'Leave the account');

  const say = (text: string, kind: 'ok' | 'error') => {
    setText(message, text);
    message.dataset.kind = kind;
  };

  const form = h(
    'form',
    { class: 'you-form' },
    h('div', { class: 'field' }, h('label', { for: 'nickname' }, 'Nickname'), nickname),
    h('div', { class: 'field' }, h('label', { for: 'team' }, 'Team'), team),
    h('div', { class: 'actions' }, save, message),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = nickname.value.trim().slice(0, 64);
    const teamName = team.value.trim().slice(0, 64);
    if (name === s.nickname && teamName === s.team) return say('Nothing changed.', 'ok');
    if (!name && !teamName) {
      v.setIdentity({ nickname: '', team: '' });
      return say('You are anonymous again.', 'ok');
    }
    save.disabled = true;
    // A volunteer account carries the nickname and the team onto the leaderboards.
    createAccount(name || 'Anonymous volunteer', teamName)
      .then((accountKey) => {
        v.setIdentity({ nickname: name, team: teamName, accountKey });
        keyField.value = accountKey;
        say(teamName ? `Saved. You compute for team ${teamName}.` : 'Saved.', 'ok');
      })
      .catch((err: unknown) => say(err instanceof Error ? err.message : String(err), 'error'))
      .finally(() => (save.disabled = false));
  });
  useKey.addEventListener('click', () => {
    const key = otherKey.value.trim();
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(key)) return say('That is not an account key.', 'error');
    v.setIdentity({ nickname: s.nickname, team: s.team, accountKey: key });
    keyField.value = key;
    otherKey.value = '';
    say('This browser now adds its credit to that account.', 'ok');
  });
  leave.addEventListener('click', () => {
    v.setIdentity({ nickname: s.nickname, team: '' });
    keyField.value = '';
    team.value = '';
    say('This browser left the account.', 'ok');
  });

  return {
    el: h(
      'section',
      { class: 'card' },
      h('h2', null, 'You'),
      h('p', { class: 'muted small' }, 'Optional. A nickname and a team put your work on the leaderboards. Saving makes a volunteer account; a new name or team makes a new one, and this browser keeps its own credit either way.'),
      form,
      h(
        'details',
        { class: 'advanced' },
        h('summary', null, 'Account key'),
        h('p', { class: 'muted small' }, 'Use the same key in other browsers (or with the Node volunteer’s --account) so their credit adds up. Keep it secret.'),
        h('form', { class: 'key-form', onsubmit: (e: Event) => e.preventDefault() }, h('input', { type: 'text', class: 'visually-hidden', autocomplete: 'username', value: 'volunteer-grid account', tabindex: '-1', 'aria-hidden': 'true', readonly: true }), h('div', { class: 'inline' }, keyField, reveal), h('div', { class: 'inline' }, otherKey, useKey), leave),
      ),
    ),
    update() {
      leave.hidden = !s.accountKey;
    },
  };
}

async function createAccount(name: string, team: string): Promise<string> {
  const res = await fetch('/api/v1/accounts', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, ...(team ? { team } : {}) }),
  });
  const body = (await res.json().catch(() => null)) as unknown;
  if (!res.ok) {
    const msg = (body as { error?: { message?: string } } | null)?.error?.message;
    throw new Error(`Could not save: ${msg ?? `HTTP ${res.status}`}`);
  }
  return AccountReply.parse(body).accountKey;
}
