// Loading, error and notice blocks shared by every page.
import type { ApiError } from '../api';
import { h, type Child } from '../dom';

export function loading(what = 'Loading…'): HTMLElement {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), what);
}

export function errorBox(error: ApiError | string, title = 'Something went wrong'): HTMLElement {
  const message = typeof error === 'string' ? error : error.message;
  const code = typeof error === 'string' ? null : error.code;
  return h('div', { class: 'alert alert-error', role: 'alert' }, h('strong', null, title), h('span', null, message), code && code !== 'error' ? h('code', { class: 'alert-code' }, code) : null);
}

export function notice(kind: 'info' | 'success' | 'warning', ...children: Child[]): HTMLElement {
  return h('div', { class: `alert alert-${kind}`, role: kind === 'warning' ? 'alert' : 'status' }, h('div', { class: 'alert-body' }, ...children));
}
