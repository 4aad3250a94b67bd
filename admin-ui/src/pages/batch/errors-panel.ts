// A batch's errors: counts by code, then the newest errors (a few, more on demand). Reloaded
// by the batch page when the pushed status shows new errors.
import { get, hasArray } from '../../api';
import type { BatchErrors } from '../../../../protocol/api';
import { h, mount, type Child } from '../../dom';
import { int } from '../../format';
import { orDash, timeCell } from '../../ui/cells';
import { errorBox, loading } from '../../ui/states';
import { emptyState, table } from '../../ui/table';

const ERRORS_SHOWN = 8;
const ERRORS_FETCHED = 50;

function errorsView(errors: BatchErrors, expanded: boolean, expand: () => void): Child {
  const codes = Object.entries(errors.byCode).sort((a, b) => b[1] - a[1]);
  if (errors.errors.length === 0 && codes.length === 0) return emptyState('No errors so far.');
  const shown = expanded ? errors.errors : errors.errors.slice(0, ERRORS_SHOWN);
  return [
    h(
      'div',
      { class: 'chips', 'aria-label': 'Errors by code' },
      codes.map(([code, n]) => h('span', { class: 'chip' }, h('code', null, code), h('strong', { class: 'num' }, int(n)))),
    ),
    table(
      [
        { label: 'When', render: (e) => timeCell(e.at) },
        { label: 'Work unit', render: (e) => h('a', { href: `#/workunits/${e.workunitId}` }, `#${e.seq}`) },
        { label: 'Host', render: (e) => orDash(e.hostName ?? (e.hostId === null ? null : `host ${e.hostId}`)) },
        { label: 'Code', render: (e) => h('code', null, e.code) },
        { label: 'Message', render: (e) => h('span', { class: 'wrap' }, e.message) },
      ],
      shown,
    ),
    shown.length < errors.errors.length
      ? h('div', { class: 'pager' }, h('button', { type: 'button', class: 'btn btn-sm', onclick: expand }, errors.errors.length < ERRORS_FETCHED ? `Show all ${int(errors.errors.length)} errors` : `Show the ${int(errors.errors.length)} newest errors`))
      : null,
  ];
}

export function errorsPanel(batchId: number): { el: HTMLElement; reload(): Promise<void> } {
  const el = h('div', null, loading('Loading errors…'));
  let expanded = false;
  const reload = async () => {
    const res = await get<BatchErrors>(`/batches/${batchId}/errors?limit=${ERRORS_FETCHED}`, hasArray('errors'));
    if (!res.ok) return mount(el, errorBox(res.error, 'Could not load the errors'));
    const render = () =>
      mount(
        el,
        errorsView(res.value, expanded, () => {
          expanded = true;
          render();
        }),
      );
    render();
  };
  void reload();
  return { el, reload };
}
