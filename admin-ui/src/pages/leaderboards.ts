// Public leaderboards by total credit: volunteers, teams and hosts.
import { get, hasArray } from '../api';
import type { Leaderboard, LeaderboardKind } from '../../../protocol/api';
import { h } from '../dom';
import { credit } from '../format';
import { card, loadInto, pageHeader, type Page, type PageContext } from '../page';
import { table } from '../ui/table';

const KINDS: [LeaderboardKind, string][] = [
  ['users', 'Volunteers'],
  ['teams', 'Teams'],
  ['hosts', 'Hosts'],
];

export function leaderboardsPage(ctx: Pick<PageContext, 'query'>): Page {
  const kind = (KINDS.find(([k]) => k === ctx.query.get('kind'))?.[0] ?? 'users') satisfies LeaderboardKind;
  const slot = h('div');
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Leaderboard' },
    KINDS.map(([k, label]) => h('a', { href: `#/leaderboards?kind=${k}`, class: k === kind ? 'tab active' : 'tab', 'aria-current': k === kind ? 'page' : null }, label)),
  );
  void loadInto(
    slot,
    () => get<Leaderboard>(`/leaderboards/${kind}?limit=100`, hasArray('entries')),
    ({ entries }) =>
      card(
        null,
        table(
          [
            { label: 'Rank', align: 'center', render: (e) => h('span', { class: e.rank <= 3 ? `rank rank-${e.rank}` : 'rank' }, String(e.rank)) },
            { label: kind === 'users' ? 'Volunteer' : kind === 'teams' ? 'Team' : 'Host', render: (e) => h('strong', null, e.name ?? `#${e.id}`) },
            ...(kind === 'teams' ? [] : [{ label: 'Team', render: (e: (typeof entries)[number]) => e.team ?? h('span', { class: 'muted' }, '—') }]),
            { label: 'Total credit', align: 'num', render: (e) => credit(e.totalCredit) },
            { label: 'Recent average', align: 'num', render: (e) => credit(e.rac) },
          ],
          entries,
          { empty: 'No credit granted yet: the board fills in as volunteers return validated results.' },
        ),
        { className: 'card-flush' },
      ),
    'Loading the leaderboard…',
  );
  return { title: 'Leaderboards', el: h('div', null, pageHeader('Leaderboards', { subtitle: 'Credit in cobblestones: 200 a day for a 1 GFLOPS machine. Recent average has a half-life of a week.' }), tabs, slot) };
}
