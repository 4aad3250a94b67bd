// The world around this browser: the public leaderboards, the coordinator key it trusts, and a
// short log of what happened (its projects: projects.ts).
import { z } from 'zod';
import { h, mount, setText } from '../dom.js';
import { clock, credit, date, fingerprint } from '../format.js';
import type { VolunteerView } from '../volunteer.js';
import type { Section } from './section.js';

type Kind = 'users' | 'teams' | 'hosts';
const LeaderboardSchema = z.object({
  entries: z.array(z.object({ rank: z.number(), id: z.number(), name: z.string().nullable(), team: z.string().nullable().optional(), totalCredit: z.number(), rac: z.number() })),
});
const KIND_LABEL: Record<Kind, string> = { users: 'Volunteers', teams: 'Teams', hosts: 'Computers' };
const REFRESH_MS = 30_000;

export function leaderboardSection(): Section {
  let kind: Kind = 'users';
  let last: VolunteerView | undefined;
  let entries: z.infer<typeof LeaderboardSchema>['entries'] = [];
  let error = '';
  let loadedAt = 0;
  let loadedCredit = 0;
  const body = h('tbody');
  const table = h('table', { class: 'board', id: 'leaderboard' }, h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'Name'), h('th', { class: 'num' }, 'Credit'), h('th', { class: 'num' }, 'Recent/day'))), body);
  const note = h('p', { class: 'muted small' });
  const tabs = (Object.keys(KIND_LABEL) as Kind[]).map((k) =>
    h('button', { type: 'button', role: 'tab', class: 'tab', 'data-kind': k, onclick: () => select(k) }, KIND_LABEL[k]),
  );

  const render = () => {
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.kind === kind));
    const mine = (id: number) => (kind === 'hosts' && id === last?.hostId) || (kind === 'users' && id === last?.userId);
    if (entries.length === 0) {
      mount(body, h('tr', null, h('td', { colspan: '4', class: 'muted empty' }, error || 'Nobody has earned credit yet. Be the first!')));
    } else {
      mount(
        body,
        entries.map((e) =>
          h(
            'tr',
            mine(e.id) ? { class: 'mine' } : null,
            h('td', null, String(e.rank)),
            h('td', null, h('span', { class: 'name' }, e.name ?? (kind === 'hosts' ? `Computer ${e.id}` : 'Anonymous')), kind !== 'teams' && e.team ? h('span', { class: 'team muted' }, e.team) : null, mine(e.id) ? h('span', { class: 'badge' }, 'you') : null),
            h('td', { class: 'num' }, credit(e.totalCredit)),
            h('td', { class: 'num' }, credit(e.rac)),
          ),
        ),
      );
    }
    setText(note, error ? '' : `Top ${entries.length} by total credit · updated ${clock(Date.now())}`);
  };

  const load = async () => {
    loadedAt = Date.now();
    loadedCredit = last?.credit ?? 0;
    try {
      // Revalidate: the board is cacheable for a few seconds, and a new nickname should show now.
      const res = await fetch(`/api/v1/leaderboards/${kind}?limit=10`, { cache: 'no-cache' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      entries = LeaderboardSchema.parse(await res.json()).entries;
      error = '';
    } catch {
      error = 'The leaderboard is not available right now.';
    }
    render();
  };
  const select = (k: Kind) => {
    kind = k;
    render();
    void load();
  };
  void load();
  setInterval(() => void load(), REFRESH_MS);

  return {
    el: h('section', { class: 'card' }, h('h2', null, 'Leaderboard'), h('div', { class: 'tabs', role: 'tablist' }, tabs), table, note),
    update(view) {
      // Reload when this volunteer appears on the board under a new id, or earns credit.
      const changed = view.hostId !== last?.hostId || view.userId !== last?.userId;
      last = view;
      if (changed || (view.credit !== loadedCredit && Date.now() - loadedAt > 5_000)) void load();
    },
  };
}

export function trustSection(hostKey: string, ed25519: string, announced: () => string | undefined): Section {
  const coordinator = h('code', { class: 'fingerprint', id: 'coordinator-fingerprint' });
  const since = h('span', { class: 'muted small' });
  const full = h('code', { class: 'full-key' });
  const instance = h('code', { class: 'fingerprint', id: 'coordinator-instance' });
  const instanceLine = h('div', { class: 'keyline', hidden: true }, h('span', { class: 'keylabel' }, 'Instance'), instance);
  return {
    el: h(
      'section',
      { class: 'card' },
      h('h2', null, 'Trust'),
      h('p', { class: 'muted small' }, 'Tasks and apps run only if they carry a valid signature of this coordinator key. This browser remembers the key the first time and refuses any other afterwards.'),
      h('div', { class: 'keyline' }, h('span', { class: 'keylabel' }, 'Coordinator key'), coordinator, since),
      h('details', { class: 'advanced' }, h('summary', null, 'Full key and checks'), full, h('p', { class: 'muted small' }, `Signatures are checked with ${ed25519 === 'webcrypto' ? 'the browser’s own Ed25519 (WebCrypto)' : 'tweetnacl (this browser has no WebCrypto Ed25519 here)'}.`)),
      h('div', { class: 'keyline' }, h('span', { class: 'keylabel' }, 'This browser'), h('code', { class: 'fingerprint', id: 'host-fingerprint', 'data-key': hostKey }, fingerprint(hostKey))),
      instanceLine,
    ),
    update(view) {
      const key = view.trust?.coordinatorKey ?? announced();
      setText(coordinator, key ? fingerprint(key) : '…');
      setText(full, key ?? '');
      setText(since, view.trust ? `trusted since ${date(view.trust.firstSeen)}` : key ? 'trusted when you start' : '');
      // Which of the coordinator's instances this browser uses, when it runs several.
      instanceLine.hidden = view.instance === undefined;
      if (view.instance) {
        const { url, rank, of } = view.instance;
        setText(instance, `${url} (${rank === undefined ? 'not in the list' : rank === 1 ? 'first choice' : `choice ${rank}`} of ${of}${view.connected ? '' : ', connecting'})`);
        instance.dataset.url = url;
        instance.dataset.connected = String(view.connected);
      }
    },
  };
}

export function activitySection(): Section {
  const list = h('ol', { class: 'activity', id: 'activity' });
  let shown: unknown;
  return {
    el: h('section', { class: 'card' }, h('h2', null, 'Activity'), list),
    update(view) {
      if (shown === view.activity[0]) return;
      shown = view.activity[0];
      if (view.activity.length === 0) return mount(list, h('li', { class: 'muted empty' }, 'Nothing yet.'));
      mount(list, view.activity.map((a) => h('li', { 'data-level': a.level }, h('time', null, clock(a.at)), h('span', null, a.text))));
    },
  };
}
