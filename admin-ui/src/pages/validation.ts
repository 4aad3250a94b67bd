// Why results were (not) accepted: disagreeing outputs side by side per work unit, and each
// host's invalid and error rates in the batch.
import { get, hasArray, hasNumber, type ApiResult } from '../api';
import type { BatchStatus, HostValidation, OutputGroup, ValidationView, ValidationWorkunit } from '../../../protocol/api';
import { h, mount } from '../dom';
import { int, percent, prettyJson } from '../format';
import { card, loadInto, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { hashCell } from '../ui/cells';
import { miniBar } from '../ui/progress';
import { emptyState, table } from '../ui/table';

const GROUP_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PAGE_SIZE = 50;

function rateCell(rate: number, tone: 'red' | 'amber'): HTMLElement {
  return h('span', { class: 'rate' }, miniBar(rate, rate > 0 ? tone : 'green'), h('span', { class: 'num' }, percent(rate)));
}

function hostsTable(hosts: HostValidation[]): HTMLElement {
  const sorted = [...hosts].sort((a, b) => b.invalidRate + b.errorRate - (a.invalidRate + a.errorRate) || b.results - a.results);
  return table(
    [
      { label: 'Host', render: (r) => r.hostName ?? `host ${r.hostId}` },
      { label: 'Results', align: 'num', render: (r) => int(r.results) },
      { label: 'Valid', align: 'num', render: (r) => int(r.valid) },
      { label: 'Invalid', align: 'num', render: (r) => int(r.invalid) },
      { label: 'Errors', align: 'num', render: (r) => int(r.errors) },
      { label: 'Invalid rate', render: (r) => rateCell(r.invalidRate, 'red') },
      { label: 'Error rate', render: (r) => rateCell(r.errorRate, 'amber') },
    ],
    sorted,
    { empty: 'No host has returned a result in this batch yet.' },
  );
}

function groupColumn(g: OutputGroup, i: number, collapsed: boolean): HTMLElement {
  const output =
    g.output !== null && g.output !== undefined
      ? h('pre', { class: 'json' }, prettyJson(g.output))
      : h('p', { class: 'muted small' }, 'Output stored as a file (not shown inline).');
  return h(
    'div',
    { class: g.canonical ? 'group canonical' : 'group' },
    h(
      'div',
      { class: 'group-head' },
      h('strong', null, `Output ${GROUP_LETTERS[i] ?? i + 1}`),
      g.canonical ? badge('canonical', 'green') : null,
      h('span', { class: 'muted small' }, `${g.replicas.length} replica${g.replicas.length === 1 ? '' : 's'}`),
    ),
    h('div', { class: 'small' }, 'hash ', hashCell(g.outputHash, 16)),
    h(
      'ul',
      { class: 'group-hosts' },
      g.replicas.map((r) => h('li', null, h('span', null, r.hostName ?? `host ${r.hostId}`), r.validateState ? badge(r.validateState) : null)),
    ),
    // Agreement needs no comparing: keep the output folded away.
    collapsed ? h('details', null, h('summary', null, 'Show output'), output) : output,
  );
}

function workunitCard(w: ValidationWorkunit): HTMLElement {
  const agreeing = Math.max(0, ...w.groups.map((g) => g.replicas.length));
  return h(
    'section',
    { class: 'card', 'aria-label': `Work unit ${w.seq}` },
    h(
      'div',
      { class: 'card-head' },
      h('h2', null, h('a', { href: `#/workunits/${w.id}` }, `Work unit #${w.seq}`)),
      h(
        'div',
        { class: 'card-actions' },
        badge(w.status),
        h('span', { class: agreeing >= w.minQuorum ? 'quorum ok' : 'quorum short' }, `${int(agreeing)} of ${int(w.minQuorum)} needed agree`),
        h('span', { class: 'muted small' }, `${w.groups.length} distinct output${w.groups.length === 1 ? '' : 's'}`),
      ),
    ),
    h(
      'div',
      { class: 'card-body' },
      w.errorReason ? h('p', { class: 'text-red' }, w.errorReason) : null,
      w.groups.length ? h('div', { class: 'groups' }, w.groups.map((g, i) => groupColumn(g, i, w.groups.length === 1))) : h('p', { class: 'muted' }, 'No successful result: every replica failed or none came back.'),
      w.errors?.length
        ? h(
            'div',
            { class: 'wu-errors' },
            h('h3', null, 'Client errors'),
            h(
              'ul',
              null,
              w.errors.map((e) => h('li', null, h('span', { class: 'muted' }, e.hostName ?? (e.hostId === null ? 'unknown host' : `host ${e.hostId}`)), ' ', h('code', null, e.code), ' ', h('span', { class: 'wrap' }, e.message))),
            ),
          )
        : null,
    ),
  );
}

export function validationPage(ctx: PageContext): Page {
  const id = Number(ctx.params.id);
  const filter = ctx.query.get('filter') === 'all' ? 'all' : 'contested';
  const headerSlot = h('div', null, pageHeader('Validation'));
  const bodySlot = h('div');
  void get<BatchStatus>(`/batches/${id}`, hasNumber('id')).then((res) => {
    const b = res.ok ? res.value : null;
    mount(
      headerSlot,
      pageHeader('Validation', {
        crumbs: [
          { label: 'Projects', href: '#/projects' },
          ...(b ? [{ label: b.projectName, href: `#/projects/${b.projectId}` }] : []),
          { label: b?.name ?? `Batch ${id}`, href: `#/batches/${id}` },
        ],
        subtitle: 'Replicas with the same output are grouped; a work unit is done when a group reaches the quorum.',
      }),
    );
  });
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Which work units' },
    (
      [
        ['contested', 'Contested'],
        ['all', 'All'],
      ] as const
    ).map(([key, label]) => h('a', { href: `#/batches/${id}/validation?filter=${key}`, class: key === filter ? 'tab active' : 'tab', 'aria-current': key === filter ? 'page' : null }, label)),
  );
  // One work unit more than a page shows: the API's `next` is set whenever a page is full, even
  // when nothing follows, so the extra one is what tells that there is more.
  const url = (after: number | null) => `/batches/${id}/validation?filter=${filter}&limit=${PAGE_SIZE + 1}${after === null ? '' : `&after=${after}`}`;
  const load = async (after: number | null): Promise<ApiResult<ValidationView>> => {
    const res = await get<ValidationView>(url(after), hasArray('workunits'));
    if (!res.ok) return res;
    const workunits = res.value.workunits.slice(0, PAGE_SIZE);
    return { ok: true, value: { ...res.value, workunits, next: res.value.workunits.length > PAGE_SIZE ? workunits[workunits.length - 1]!.seq : null } };
  };
  /** A "Load more" button for the next page, which replaces itself with that page. */
  const more = (next: number | null | undefined): HTMLElement | null => {
    if (next === null || next === undefined) return null;
    const button = h('button', { type: 'button', class: 'btn' }, 'Load more work units');
    const slot = h('div', { class: 'load-more' }, button);
    button.addEventListener('click', () => {
      void loadInto(slot, () => load(next), (v) => [v.workunits.map(workunitCard), more(v.next)]);
    });
    return slot;
  };
  void loadInto(
    bodySlot,
    () => load(null),
    (v) => [
      card('Hosts in this batch', hostsTable(v.hosts), { className: 'card-flush' }),
      h('h2', { class: 'section-title' }, filter === 'contested' ? 'Contested work units' : 'Work units'),
      v.workunits.length
        ? [v.workunits.map(workunitCard), more(v.next)]
        : emptyState(filter === 'contested' ? 'Nothing contested: every finished work unit agreed at the first quorum.' : 'No work unit has a result yet.'),
    ],
    'Loading validation…',
  );
  return { title: 'Validation', el: h('div', null, headerSlot, tabs, bodySlot) };
}
