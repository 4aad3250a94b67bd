// Admin: researcher and admin accounts — create with a role, disable or enable.
import { get, hasArray, isRecord, patch, post } from '../api';
import type { AccountDetail, AccountList, CreatedAccount, Role } from '../../../protocol/api';
import { h, mount } from '../dom';
import { card, loadInto, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { timeCell } from '../ui/cells';
import { confirmDialog, toast } from '../ui/dialog';
import { busy, field, input, select } from '../ui/form';
import { errorBox, notice } from '../ui/states';
import { table } from '../ui/table';

const isCreated = (v: unknown): v is CreatedAccount => isRecord(v) && isRecord(v.account) && typeof v.account.id === 'number';

export function accountsPage(ctx: PageContext): Page {
  if (ctx.session.account.role !== 'admin') {
    return { title: 'Accounts', el: h('div', null, pageHeader('Accounts'), errorBox('Only admins manage accounts.', 'Not allowed')) };
  }
  const me = ctx.session.account.id;
  const list = h('div');
  const created = h('div');
  const reload = () =>
    loadInto(
      list,
      async () => {
        const res = await get<AccountList>('/researchers', hasArray('accounts'));
        return res.ok ? { ok: true as const, value: res.value.accounts } : res;
      },
      (researchers) =>
        table(
          [
            { label: 'Name', render: (r) => h('strong', null, r.name, r.id === me ? h('span', { class: 'muted' }, ' (you)') : null) },
            { label: 'Role', render: (r) => badge(r.role) },
            { label: 'State', render: (r) => (r.disabled ? badge('disabled') : badge('active', 'green')) },
            { label: 'Created', align: 'num', render: (r) => timeCell(r.createdAt) },
            {
              label: '',
              align: 'num',
              render: (r) =>
                r.id === me
                  ? null
                  : h(
                      'button',
                      {
                        type: 'button',
                        class: r.disabled ? 'btn btn-sm' : 'btn btn-sm btn-danger-quiet',
                        'aria-label': `${r.disabled ? 'Enable' : 'Disable'} ${r.name}`,
                        onclick: async () => {
                          if (!r.disabled && !(await confirmDialog(`Disable ${r.name}?`, h('p', null, 'Their sessions and API tokens end at once. Their projects keep running.'), 'Disable account'))) return;
                          const res = await patch<unknown>(`/researchers/${r.id}`, { disabled: !r.disabled });
                          if (!res.ok) return toast(res.error.message, 'error');
                          toast(`${r.name} ${r.disabled ? 'enabled' : 'disabled'}`, 'success');
                          void reload();
                        },
                      },
                      r.disabled ? 'Enable' : 'Disable',
                    ),
            },
          ],
          researchers,
          { rowClass: (r) => (r.disabled ? 'row-muted' : null) },
        ),
      'Loading accounts…',
    );

  const name = input({ name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const role = select(
    [
      ['researcher', 'Researcher'],
      ['admin', 'Admin'],
    ],
    { name: 'role' },
  );
  const password = input({ name: 'password', type: 'password', minlength: 12, maxlength: 200, autocomplete: 'new-password', placeholder: 'leave empty to generate one' });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create account');
  const form = h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Creating…', async () => {
          const body: { name: string; role: Role; password?: string } = { name: name.value.trim(), role: role.value as Role };
          if (password.value) body.password = password.value;
          const res = await post<CreatedAccount>('/researchers', body, isCreated);
          if (!res.ok) return mount(status, errorBox(res.error, 'Could not create the account'));
          mount(status);
          const a = res.value;
          mount(
            created,
            notice(
              'success',
              h('strong', null, `Account ${a.account.name} created. `),
              a.password ? ['Its generated password, shown this once: ', h('code', { class: 'secret' }, a.password)] : 'They log in with the password you chose.',
            ),
          );
          name.value = '';
          password.value = '';
          void reload();
        });
      },
    },
    field('Account name', name),
    field('Role', role, { hint: 'Researchers see only their own projects; admins see all and manage accounts.' }),
    field('Password (optional)', password, { hint: 'At least 12 characters. Empty: the coordinator generates one and shows it once.' }),
    h('div', { class: 'form-actions field-wide' }, submit),
  );
  void reload();
  return {
    title: 'Accounts',
    el: h('div', null, pageHeader('Accounts', { subtitle: 'Researchers see and change only their own projects; admins see everything.' }), card('New account', [form, status, created]), card('All accounts', list, { className: 'card-flush' })),
  };
}
