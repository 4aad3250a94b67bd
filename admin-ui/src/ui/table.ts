// Data tables: numbers right-aligned, an empty state instead of an empty grid.
import { h, type Child } from '../dom';

export interface Column<R> {
  label: string;
  /** 'num' right-aligns with tabular figures. */
  align?: 'num' | 'center';
  render(row: R): Child;
  className?: string;
}

export interface TableOptions<R> {
  empty?: Child;
  caption?: string;
  /** Makes each row a link-like target (keyboard and mouse). */
  onRowClick?: (row: R) => void;
  rowLabel?: (row: R) => string;
  rowClass?: (row: R) => string | null;
}

export function table<R>(columns: Column<R>[], rows: readonly R[], options: TableOptions<R> = {}): HTMLElement {
  if (rows.length === 0) {
    const empty = options.empty;
    return empty instanceof HTMLElement && empty.classList.contains('empty') ? empty : emptyState(empty ?? 'Nothing here yet.');
  }
  const cls = (c: Column<R>) => [c.align === 'num' ? 'num' : c.align === 'center' ? 'center' : '', c.className ?? ''].join(' ').trim() || null;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: options.onRowClick ? 'table clickable' : 'table' },
      options.caption ? h('caption', { class: 'visually-hidden' }, options.caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { class: cls(c), scope: 'col' }, c.label)))),
      h(
        'tbody',
        null,
        rows.map((row) => {
          const click = options.onRowClick;
          const tr = h(
            'tr',
            click
              ? {
                  tabindex: 0,
                  class: options.rowClass?.(row) ?? null,
                  'aria-label': options.rowLabel?.(row) ?? null,
                  onclick: (e: MouseEvent) => {
                    // Let real links and buttons inside the row do their own thing.
                    if ((e.target as Element).closest('a,button,input,select')) return;
                    click(row);
                  },
                  onkeydown: (e: KeyboardEvent) => {
                    if (e.key === 'Enter') click(row);
                  },
                }
              : { class: options.rowClass?.(row) ?? null },
            columns.map((c) => h('td', { class: cls(c) }, c.render(row))),
          );
          return tr;
        }),
      ),
    ),
  );
}

export function emptyState(message: Child, action?: Child): HTMLElement {
  return h('div', { class: 'empty' }, h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, '∅'), h('p', null, message), action ?? null);
}
