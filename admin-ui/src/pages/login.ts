// The login screen; on success hands the session to the shell.
import { post, hasNumber } from '../api';
import type { Session } from '../../../protocol/api';
import { h, mount } from '../dom';
import { busy, field, input } from '../ui/form';
import { errorBox, notice } from '../ui/states';

const isSession = (v: unknown): v is Session =>
  typeof v === 'object' && v !== null && hasNumber('id')((v as { account?: unknown }).account);

export function loginScreen(onLogin: (s: Session) => void, message?: string): HTMLElement {
  const name = input({ name: 'name', autocomplete: 'username', required: true, autofocus: true });
  const password = input({ name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' }, message ? notice('info', message) : null);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login-form',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Logging in…', async () => {
          const res = await post<Session>('/session', { name: name.value.trim(), password: password.value }, isSession);
          if (res.ok) return onLogin(res.value);
          const msg =
            res.error.status === 401 ? 'Wrong name or password.' : res.error.status === 429 ? 'Too many attempts. Wait a few minutes and try again.' : res.error.message;
          mount(status, errorBox(msg, 'Could not log in'));
          password.select();
        });
      },
    },
    field('Name', name),
    field('Password', password),
    status,
    submit,
  );
  return h(
    'div',
    { class: 'login-screen' },
    h(
      'main',
      { class: 'login-card' },
      h('div', { class: 'brand brand-lg' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', null, 'volunteer-grid')),
      h('h1', null, 'Log in'),
      h('p', { class: 'muted' }, 'Researcher and admin console'),
      form,
    ),
    h('p', { class: 'login-foot muted' }, h('a', { href: '#/leaderboards' }, 'Public leaderboards')),
  );
}

export { isSession };
