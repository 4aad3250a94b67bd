// The "Credit ledger" link: the coordinator's public ledger (GET /api/v1/ledger) read and checked
// here, not shown as raw JSON. Every page of entries is verified as protocol/ledger.ts says
// (each entry's hash, its link to the one before, the coordinator's signature) with the key this
// browser trusts, and pages must link to each other; this browser's own entries are marked.
import { LedgerPageSchema, type CreditReceipt } from '../../../protocol/messages.js';
import { verifyLedgerChain } from '../../../protocol/ledger.js';
import type { VolunteerCrypto } from '../../../volunteer-core/crypto.js';
import { h, mount, setText } from '../dom.js';
import { credit, dateTime, fingerprint } from '../format.js';
import type { VolunteerView } from '../volunteer.js';
import type { Section } from './section.js';

const PAGE = 500;

export function ledgerSection(crypto: VolunteerCrypto, hostKey: string): Section & { open(): void } {
  let entries: CreditReceipt[] = [];
  let lastHash: string | undefined;
  let key: string | undefined;
  let problem = '';
  let done = false;
  let loading = false;
  let mineOnly = false;
  let trusted: string | undefined;
  const status = h('p', { class: 'ledger-status', id: 'ledger-status', role: 'status' });
  const summary = h('p', { class: 'muted small', id: 'ledger-summary' });
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', id: 'ledger-more', onclick: () => void load() }, 'Load more');
  const mine = h('input', { type: 'checkbox', id: 'ledger-mine' });
  mine.addEventListener('change', () => {
    mineOnly = mine.checked;
    render();
  });

  const render = () => {
    if (problem) {
      status.dataset.kind = 'danger';
      setText(status, problem);
    } else if (entries.length === 0) {
      status.dataset.kind = 'info';
      setText(status, loading ? 'Loading the ledger…' : 'The ledger has no entries yet.');
    } else {
      status.dataset.kind = key === trusted ? 'ok' : 'warn';
      setText(
        status,
        `Verified: entries 1 to ${entries.at(-1)!.entryId} form one unbroken chain, every entry signed by the coordinator key ${fingerprint(key!)}` +
          (key === trusted ? ', the key this browser trusts.' : trusted ? ', which is NOT the key this browser trusts.' : ' (this browser trusts it once you start volunteering).'),
      );
    }
    const ownEntries = entries.filter((e) => e.hostKey === hostKey);
    const own = ownEntries.reduce((sum, e) => sum + e.amount, 0);
    setText(summary, `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} read${done ? ' (all of them)' : ''}; ${ownEntries.length} for this browser, ${credit(own)} credit in all.`);
    const shown = (mineOnly ? ownEntries : entries).slice().reverse();
    mount(
      body,
      shown.length === 0
        ? h('tr', null, h('td', { colspan: '6', class: 'muted empty' }, 'No entries.'))
        : shown.map((e) =>
            h(
              'tr',
              e.hostKey === hostKey ? { class: 'mine', 'data-entry': String(e.entryId) } : { 'data-entry': String(e.entryId) },
              h('td', null, String(e.entryId)),
              h('td', null, dateTime(e.grantedAt)),
              h('td', null, e.hostKey === hostKey ? h('span', { class: 'badge' }, 'this browser') : h('code', null, fingerprint(e.hostKey).slice(0, 9))),
              h('td', null, String(e.taskId)),
              h('td', null, String(e.workunitId)),
              h('td', { class: 'num' }, `${e.amount < 0 ? '−' : '+'}${credit(Math.abs(e.amount))}`),
            ),
          ),
    );
    more.hidden = done || !!problem;
  };

  const load = async () => {
    if (loading || done || problem) return;
    loading = true;
    render();
    try {
      const after = entries.at(-1)?.entryId ?? 0;
      const res = await fetch(`/api/v1/ledger?after=${after}&limit=${PAGE}`, { cache: 'no-cache' });
      if (!res.ok) throw new Error(`the coordinator answered HTTP ${res.status}`);
      const page = LedgerPageSchema.parse(await res.json());
      key ??= page.coordinatorKey;
      if (page.coordinatorKey !== key) throw new Error('the ledger changed its key while being read');
      if (page.entries.length > 0) {
        // Each page verifies on its own, and must continue the chain read so far.
        if (lastHash !== undefined && page.prevHash !== lastHash) throw new Error(`entry ${page.entries[0]!.entryId} does not link to entry ${after}`);
        const bad = await crypto.check((ed) => verifyLedgerChain(ed, key!, page.entries, page.prevHash ?? undefined));
        if (bad) throw new Error(`entry ${bad.entryId} ${bad.problem}`);
        entries = entries.concat(page.entries);
        lastHash = page.entries.at(-1)!.entryHash;
      }
      done = page.entries.length < PAGE;
    } catch (e) {
      problem = `The ledger does not verify: ${e instanceof Error ? e.message : String(e)}. Do not rely on its figures.`;
    }
    loading = false;
    render();
  };

  const el = h(
    'section',
    { class: 'card ledger-view', id: 'ledger-view' },
    h('p', null, h('a', { href: '#' }, '← Back to volunteering')),
    h('h1', null, 'Credit ledger'),
    h(
      'p',
      { class: 'muted' },
      'Every grant of credit, and every one taken back, is an entry in a public chain: each names the computer, the task and the amount, links to the entry before it by its hash, and is signed by the coordinator. This page reads the chain and checks all of that here, in your browser.',
    ),
    status,
    h('label', { class: 'check' }, mine, h('span', null, 'Only this browser’s entries')),
    summary,
    h('div', { class: 'table-scroll' }, h('table', { class: 'board', id: 'ledger' }, h('thead', null, h('tr', null, h('th', null, 'Entry'), h('th', null, 'Granted'), h('th', null, 'Computer'), h('th', null, 'Task'), h('th', null, 'Work unit'), h('th', { class: 'num' }, 'Credit'))), body)),
    h('p', null, more, ' ', h('a', { href: '/api/v1/ledger', class: 'small' }, 'The same as JSON')),
  );

  return {
    el,
    update(view: VolunteerView) {
      const t = view.trust?.coordinatorKey ?? undefined;
      if (t !== trusted) {
        trusted = t;
        render();
      }
    },
    open() {
      if (entries.length === 0 && !problem) void load();
      render();
    },
  };
}
