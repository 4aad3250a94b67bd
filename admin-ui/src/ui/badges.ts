// Status pills with one colour per meaning.
import { h } from '../dom';

const TONE: Record<string, string> = {
  active: 'blue',
  running: 'blue',
  inProgress: 'blue',
  in_progress: 'blue',
  done: 'green',
  valid: 'green',
  success: 'green',
  paused: 'amber',
  unsent: 'grey',
  failed: 'red',
  invalid: 'red',
  client_error: 'red',
  clientError: 'red',
  error: 'red',
  cancelled: 'grey',
  aborted: 'grey',
  no_reply: 'amber',
  noReply: 'amber',
  abandoned: 'amber',
  inconclusive: 'amber',
  pending: 'grey',
  init: 'grey',
  not_needed: 'grey',
  notNeeded: 'grey',
  admin: 'violet',
  researcher: 'grey',
  disabled: 'red',
};

export function badge(text: string, tone = TONE[text] ?? 'grey'): HTMLElement {
  return h('span', { class: `badge badge-${tone}` }, text.replace(/_/g, ' '));
}

export function dot(online: boolean): HTMLElement {
  return h('span', { class: online ? 'dot dot-on' : 'dot dot-off', role: 'img', 'aria-label': online ? 'online' : 'offline', title: online ? 'online' : 'offline' });
}
