// Your account: who you are, and changing your password (which ends everything the old one gave:
// other sessions and every API token).
import { post } from '../api';
import { h, mount } from '../dom';
import { card, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { busy, field, input } from '../ui/form';
import { errorBox, notice } from '../ui/states';

function passwordForm(): HTMLElement {
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
          // A wrong current password is a 403: the session itself is fine.
          if (!res.ok) return mount(status, errorBox(res.error.status === 403 ? 'The current password is wrong.' : res.error.message, 'Could not change the password'));
          current.value = '';
          next.value = '';
          mount(
            status,
            notice(
              'success',
              h('strong', null, 'Password changed. '),
              'Your other sessions were logged out and all your API tokens revoked: ',
              h('a', { href: '#/tokens' }, 'make a new token'),
              ' for each CLI or script (',
              h('code', null, 'volunteer-grid login'),
              ' does it).',
            ),
          );
        });
      },
    },
    field('Current password', current),
    field('New password', next, { hint: '12 to 200 characters. Changing it logs out your other sessions and revokes all your API tokens.' }),
    submit,
    h('div', { class: 'field-wide' }, status),
  );
}

export function accountPage(ctx: PageContext): Page {
  const { account } = ctx.session;
  return {
    title: 'Your account',
    el: h(
      'div',
      null,
      pageHeader('Your account', { subtitle: ['Signed in as ', h('strong', null, account.name), '. API tokens for the CLI and scripts are on ', h('a', { href: '#/tokens' }, 'their own page'), '.'] }),
      card('Account', h('dl', { class: 'props' }, h('dt', null, 'Name'), h('dd', null, account.name), h('dt', null, 'Role'), h('dd', null, badge(account.role)))),
      card('Your password', passwordForm()),
    ),
  };
}
