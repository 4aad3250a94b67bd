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
    el: h(
      'div',
      null,
      pageHeader('API tokens', {
        subtitle: ['For the CLI and scripts. A token acts as you; revoke the ones you no longer use. Changing your password (on ', h('a', { href: '#/account' }, 'your account'), ') revokes them all.'],
      }),
      card('New token', [form, status, created]),
      card('Your tokens', list, { className: 'card-flush' }),
    ),
  };
}
