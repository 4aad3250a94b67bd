// What every page is: a title, an element, and what to stop when the user leaves it.
import type { ApiResult } from './api';
import type { Session } from '../../protocol/api';
import { h, mount, type Child } from './dom';
import { errorBox, loading } from './ui/states';

export interface Page {
  title: string;
  el: HTMLElement;
  dispose?: () => void;
}

export interface PageContext {
  session: Session;
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Crumb {
  label: string;
  href?: string;
}

export function pageHeader(title: Child, options: { crumbs?: Crumb[]; actions?: Child; subtitle?: Child; badge?: Child } = {}): HTMLElement {
  return h(
    'header',
    { class: 'page-header' },
    options.crumbs?.length
      ? h(
          'nav',
          { class: 'crumbs', 'aria-label': 'Breadcrumb' },
          options.crumbs.map((c, i) => [i > 0 ? h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/') : null, c.href ? h('a', { href: c.href }, c.label) : h('span', null, c.label)]),
        )
      : null,
    h(
      'div',
      { class: 'page-title-row' },
      h('div', { class: 'page-title' }, h('h1', null, title), options.badge ?? null),
      options.actions ? h('div', { class: 'page-actions' }, options.actions) : null,
    ),
    options.subtitle ? h('p', { class: 'page-subtitle' }, options.subtitle) : null,
  );
}

export function card(title: Child, body: Child, options: { actions?: Child; className?: string; id?: string } = {}): HTMLElement {
  return h(
    'section',
    { class: `card ${options.className ?? ''}`.trim(), id: options.id ?? null, 'aria-label': typeof title === 'string' ? title : null },
    title || options.actions ? h('div', { class: 'card-head' }, title ? h('h2', null, title) : null, options.actions ? h('div', { class: 'card-actions' }, options.actions) : null) : null,
    h('div', { class: 'card-body' }, body),
  );
}

/**
 * Shows a spinner in `slot`, runs the request, then renders its value — or the error with a
 * retry button. Returns the value (or null) for callers that need it.
 */
export async function loadInto<T>(slot: Element, request: () => Promise<ApiResult<T>>, render: (value: T) => Child, what = 'Loading…'): Promise<T | null> {
  mount(slot, loading(what));
  const res = await request();
  if (!res.ok) {
    mount(slot, errorBox(res.error, 'Could not load this'), h('button', { class: 'btn', type: 'button', onclick: () => void loadInto(slot, request, render, what) }, 'Try again'));
    return null;
  }
  mount(slot, render(res.value));
  return res.value;
}

/** Calls fn at most once per `ms`, always with the latest call honoured at the end. */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  const throttled = () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(run, wait);
  };
  throttled.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return throttled;
}
