// Volunteer hosts: who is online, what they did, how far they are trusted.
import { get, hasArray } from '../api';
import type { Host, HostList } from '../../../protocol/api';
import { h, mount } from '../dom';
import { credit, int } from '../format';
import { card, loadInto, pageHeader, type Page } from '../page';
import { badge, dot } from '../ui/badges';
import { breakable, timeCell } from '../ui/cells';
import { checkbox } from '../ui/form';
import { emptyState, table } from '../ui/table';

function trustCell(host: Host): HTMLElement {
  return h(
    'div',
    { class: 'trust' },
    host.distrustedAt !== null ? badge('distrusted', 'red') : host.trusted ? badge('trusted', 'green') : badge('not trusted', 'grey'),
    h('div', { class: 'muted small' }, `${int(host.consecutiveValid)} valid in a row`),
    host.sentinelsPassed + host.sentinelsFailed > 0
      ? h('div', { class: 'muted small', title: 'answers to work units with a known answer: right · wrong' }, `checks ${int(host.sentinelsPassed)} ✓ · ${int(host.sentinelsFailed)} ✗`)
      : null,
  );
}

/**
 * The host's name (long DNS names break after their dots), then its id and platform — kind,
 * engine, OS/arch, each unbroken — on a line that wraps between them.
 */
function hostCell(x: Host): HTMLElement {
  const where = [x.platform.os, x.platform.arch].filter(Boolean).join('/');
  const parts = [`#${x.id}`, x.platform.kind, x.platform.engine, where].filter((p): p is string => Boolean(p));
  return h(
    'div',
    null,
    h('strong', { class: 'wrap' }, breakable(x.name ?? `host ${x.id}`)),
    h('div', { class: 'muted small' }, parts.map((p, i) => [i > 0 ? ' · ' : null, h('span', { class: 'nowrap' }, p)])),
  );
}

export function hostsPage(): Page {
  const onlineOnly = checkbox('Online only', { name: 'online' });
  const summary = h('span', { class: 'muted' });
  const slot = h('div');
  const load = () =>
    loadInto(
      slot,
      () => get<HostList>(`/hosts?limit=500${onlineOnly.input.checked ? '&online=true' : ''}`, hasArray('hosts')),
      ({ hosts, online }) => {
        mount(summary, `${int(online)} online · ${int(hosts.length)} shown`);
        return card(
          null,
          table(
            [
              { label: '', align: 'center', render: (x) => dot(x.online) },
              // Names wrap (host names are often long DNS names), the platform goes under the name:
              // the table fits its card at 1280 px.
              { label: 'Host', className: 'cell-name', render: hostCell },
              { label: 'Volunteer', className: 'cell-name', render: (x) => h('div', { class: 'wrap' }, x.userName ? breakable(x.userName) : h('span', { class: 'muted' }, 'anonymous'), x.teamName ? h('div', { class: 'muted small' }, x.teamName) : null) },
              { label: 'Last seen', align: 'num', render: (x) => (x.online ? h('span', { class: 'text-green' }, 'now') : timeCell(x.lastSeenAt)) },
              {
                label: 'Tasks done',
                align: 'num',
                render: (x) =>
                  h(
                    'div',
                    null,
                    int(x.tasksDone),
                    h('div', { class: 'muted small', title: 'valid · invalid · client errors' }, `${int(x.nValid)} ✓ · ${int(x.nInvalid)} ✗ · ${int(x.nError)} err`),
                  ),
              },
              // The recent average under the total: one column less.
              { label: 'Credit', align: 'num', render: (x) => h('div', null, credit(x.totalCredit), h('div', { class: 'muted small', title: 'recent average credit (RAC)' }, `RAC ${credit(x.rac)}`)) },
              { label: 'Trust', render: trustCell },
            ],
            hosts,
            { empty: emptyState(onlineOnly.input.checked ? 'No host is online right now.' : 'No volunteer has connected yet. Run npm run volunteer -- --url <this coordinator> on any machine.') },
          ),
          { className: 'card-flush' },
        );
      },
      'Loading hosts…',
    );
  onlineOnly.input.addEventListener('change', () => void load());
  void load();
  return {
    title: 'Hosts',
    el: h(
      'div',
      null,
      pageHeader('Hosts', { subtitle: 'Machines that volunteer their computing time.', actions: [summary, onlineOnly.el, h('button', { type: 'button', class: 'btn', onclick: () => void load() }, 'Refresh')] }),
      slot,
    ),
  };
}
