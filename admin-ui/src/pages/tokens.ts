// API tokens for the CLI and scripts: create (shown once), list, revoke.
import { del, get, hasArray, hasNumber, post } from '../api';
import type { ApiToken, CreatedToken } from '../../../protocol/api';
import { h, mount } from '../dom';
import { card, loadInto, pageHeader, type Page } from '../page';
import { timeCell } from '../ui/cells';
import { confirmDialog, toast } from '../ui/dialog';
import { busy, field, input } from '../ui/form';
import { errorBox, notice } from '../ui/states';
import { table } from '../ui/table';

function shownOnce(t: CreatedToken): HTMLElement {
  const value = h('input', { type: 'text', readonly: true, value: t.token, class: 'mono', id: 'new-token', 'aria-label': 'New API token' });
  const copy = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-sm',
      onclick: () => {
        value.select();
        void navigator.clipboard?.writeText(t.token).then(
          () => toast('Token copied', 'success'),
          () => toast('Select the token and copy it by hand', 'info'),
        );
      },
    },
    'Copy',
  );
  return notice(
    'success',
    h('strong', null, `Token "${t.name}" created. `),
    'Copy it now: it is shown this once. Use it as ',
    h('code', null, 'Authorization: Bearer …'),
    '.',
    h('div', { class: 'token-row' }, value, copy),
  );
}

/** `onChanged` runs after a change: the server revoked every token, so the list is stale. */
function passwordForm(onChanged: () => void): HTMLElement {
  const current = input({ name: 'currentPassword', type: 'password', autocomplete: 'current-password', required: true });
  const next = input({ name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minlength: 12, maxlength: 200 });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Change password');
  return h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Changing…', async () => {
          const res = await post<unknown>('/session/password', { currentPassword: current.value, newPassword: next.value });
          if (!res.ok) return mount(status, errorBox(res.error.status === 401 ? 'The current password is wrong.' : res.error.message, 'Could not change the password'));
          current.value = '';
          next.value = '';
          mount(
            status,
            notice(
              'success',
              h('strong', null, 'Password changed. '),
              'Your other sessions were logged out and all your API tokens revoked: make a new token for each CLI or script (',
              h('code', null, 'volunteer-grid login'),
              ' does it).',
            ),
          );
          onChanged();
        });
      },
    },
    field('Current password', current),
    field('New password', next, { hint: '12 to 200 characters. Changing it logs out your other sessions and revokes all your API tokens.' }),
    submit,
    h('div', { class: 'field-wide' }, status),
  );
}

export function tokensPage(): Page {
  const created = h('div');
  const list = h('div');
  const reload = () =>
    loadInto(
      list,
      () => get<{ tokens: ApiToken[] }>('/tokens', hasArray('tokens')),
      ({ tokens }) =>
        table(
          [
            { label: 'Name', render: (t) => h('strong', null, t.name) },
            { label: 'Created', align: 'num', render: (t) => timeCell(t.createdAt) },
            { label: 'Last used', align: 'num', render: (t) => (t.lastUsedAt === null ? h('span', { class: 'muted' }, 'never') : timeCell(t.lastUsedAt)) },
            {
              label: '',
              align: 'num',
              render: (t) =>
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-sm btn-danger-quiet',
                    'aria-label': `Revoke token ${t.name}`,
                    onclick: async () => {
                      if (!(await confirmDialog(`Revoke "${t.name}"?`, h('p', null, 'Scripts and CLIs using this token stop working at once.'), 'Revoke token'))) return;
                      const res = await del(`/tokens/${t.id}`);
                      if (!res.ok) return toast(res.error.message, 'error');
                      toast(`Token ${t.name} revoked`, 'success');
                      void reload();
                    },
                  },
                  'Revoke',
                ),
            },
          ],
          tokens,
          { empty: 'No API tokens. Create one for the CLI (npm run grid) or your scripts.' },
        ),
      'Loading tokens…',
    );
  const name = input({ name: 'name', required: true, maxlength: 100, placeholder: 'laptop' });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create token');
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Creating…', async () => {
          const res = await post<CreatedToken>('/tokens', { name: name.value.trim() }, hasNumber('id'));
          if (!res.ok) return mount(status, errorBox(res.error, 'Could not create the token'));
          mount(status);
          mount(created, shownOnce(res.value));
          name.value = '';
          void reload();
        });
      },
    },
    field('Token name', name),
    submit,
  );
  void reload();
  return {
    title: 'API tokens',
    el: h('div', null, pageHeader('API tokens', { subtitle: 'For the CLI and scripts. A token acts as you; revoke the ones you no longer use.' }), card('New token', [form, status, created]), card('Your tokens', list, { className: 'card-flush' }), card('Your password', passwordForm(() => {
      mount(created);
      void reload();
    }))),
  };
}
