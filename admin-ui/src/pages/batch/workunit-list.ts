// A batch's work units, a page at a time (cursor paging), filtered by status; each row
// links to the work unit's detail. A page asks for one row more than it shows: the API's
// `next` is set whenever a page is full, even when nothing follows, so the extra row is what
// tells that there is a next page.
import { get, hasArray, type ApiResult } from '../../api';
import type { WorkunitPage, WorkunitState } from '../../../../protocol/api';
import { h, mount } from '../../dom';
import { int } from '../../format';
import { navigate } from '../../router';
import { badge } from '../../ui/badges';
import { timeCell } from '../../ui/cells';
import { field, select } from '../../ui/form';
import { errorBox, loading } from '../../ui/states';
import { table } from '../../ui/table';

const PAGE_SIZE = 20;

/** The paged work-unit list with a status filter. */
export function workunitList(batchId: number): { el: HTMLElement; refresh(): void } {
  const filter = select(
    [
      ['', 'All'],
      ['active', 'Active'],
      ['done', 'Done'],
      ['failed', 'Failed'],
      ['cancelled', 'Cancelled'],
    ],
    { name: 'status' },
  );
  const slot = h('div', null, loading('Loading work units…'));
  const pager = h('div', { class: 'pager' });
  // Cursors of the pages seen so far: cursors[i] is the `after` of page i.
  let cursors: (number | null)[] = [null];
  let page = 0;
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    const after = cursors[page];
    const q = new URLSearchParams({ limit: String(PAGE_SIZE + 1) });
    if (filter.value) q.set('status', filter.value as WorkunitState);
    if (after !== null && after !== undefined) q.set('after', String(after));
    const res: ApiResult<WorkunitPage> = await get(`/batches/${batchId}/workunits?${q}`, hasArray('workunits'));
    if (mine !== seq) return;
    if (!res.ok) return mount(slot, errorBox(res.error, 'Could not load the work units'));
    const workunits = res.value.workunits.slice(0, PAGE_SIZE);
    const next = res.value.workunits.length > PAGE_SIZE ? workunits[workunits.length - 1]!.seq : null;
    cursors[page + 1] = next;
    mount(
      slot,
      table(
        [
          { label: 'Seq', render: (w) => h('a', { href: `#/workunits/${w.id}` }, `#${w.seq}`) },
          { label: 'Id', align: 'num', render: (w) => int(w.id) },
          { label: 'Status', render: (w) => badge(w.status) },
          { label: 'Why it failed', render: (w) => (w.errorReason ? h('span', { class: 'wrap' }, w.errorReason) : h('span', { class: 'muted' }, '—')) },
          { label: 'Finished', align: 'num', render: (w) => timeCell(w.finishedAt) },
        ],
        workunits,
        { onRowClick: (w) => navigate(`#/workunits/${w.id}`), rowLabel: (w) => `Work unit ${w.seq}`, empty: filter.value ? `No ${filter.value} work units.` : 'No work units.' },
      ),
    );
    // One page holds them all: no pager.
    if (page === 0 && next === null) return mount(pager);
    mount(
      pager,
      h('button', { type: 'button', class: 'btn btn-sm', disabled: page === 0, onclick: () => ((page -= 1), void load()) }, '← Previous'),
      h('span', { class: 'muted small' }, `Page ${page + 1}`),
      h('button', { type: 'button', class: 'btn btn-sm', disabled: next === null, onclick: () => ((page += 1), void load()) }, 'Next →'),
    );
  };
  filter.addEventListener('change', () => {
    cursors = [null];
    page = 0;
    void load();
  });
  void load();
  return {
    el: h('div', null, h('div', { class: 'toolbar' }, field('Show', filter)), slot, pager),
    refresh: () => void load(),
  };
}

