// The volunteer page: opens the browser's storage and key, restores the journal, builds the
// page and keeps it in step with the volunteer. Only one tab of a browser volunteers at a time
// (they would share one host key and one journal); others wait their turn.
import './styles.css';
import { fetchWellKnown } from '../../volunteer-core/discovery.js';
import { browserCrypto } from './crypto.js';
import { h, s } from './dom.js';
import { Idb } from './idb.js';
import { loadOrCreateHostKey } from './identity.js';
import { watchPower } from './power.js';
import { loadSettings } from './settings.js';
import { activitySection, leaderboardSection, trustSection } from './ui/community.js';
import { projectsSection } from './ui/projects.js';
import { bannerSection, heroSection, statsSection, workersSection } from './ui/compute.js';
import { settingsSection, youSection } from './ui/controls.js';
import type { Section } from './ui/section.js';
import { tasksSection } from './ui/tasks.js';
import { creditChartSection } from './ui/credit-chart.js';
import { ledgerSection } from './ui/ledger.js';
import { TaskHistory } from './task-history.js';
import { Volunteer } from './volunteer.js';

const PHASE_LABEL = { stopped: 'Paused', connecting: 'Connecting', computing: 'Computing', waiting: 'Waiting for work', paused: 'Paused', blocked: 'Stopped' } as const;

async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  const pill = h('span', { class: 'pill', id: 'phase' }, 'Starting…');
  const notice = h('div', { class: 'banner', role: 'status', hidden: true });
  root.append(topbar(pill), h('main', { class: 'page' }, notice));
  const page = root.querySelector('main')!;

  let db: Idb;
  try {
    db = await Idb.open();
  } catch (e) {
    notice.hidden = false;
    notice.dataset.kind = 'danger';
    notice.textContent = `This page needs the browser’s storage to keep its key and your tasks: ${e instanceof Error ? e.message : String(e)}`;
    return;
  }
  const crypto = await browserCrypto();
  const host = await loadOrCreateHostKey(db, crypto);
  await oneTabAtATime(() => {
    notice.hidden = false;
    notice.dataset.kind = 'info';
    notice.textContent = 'This browser is already volunteering in another tab. This tab takes over when that one closes.';
  });
  notice.hidden = true;

  const settings = loadSettings();
  const volunteer = await Volunteer.create(db, await TaskHistory.load(db), crypto, host, settings, platform());
  const power = watchPower((p) => volunteer.setPower(p));
  volunteer.setPower(power);
  let announced: string | undefined;
  void announcedKey().then((k) => {
    announced = k;
    render();
  });

  const hero = heroSection(volunteer, () => (volunteer.settings.running ? volunteer.pause() : volunteer.start()));
  const tasks = tasksSection();
  const ledger = ledgerSection(crypto, host.publicKey);
  const chart = creditChartSection(volunteer);
  const sections: Section[] = [
    bannerSection(volunteer),
    hero,
    workersSection(),
    statsSection(() => tasks.show('errors')),
    settingsSection(volunteer, () => power.batteryKnown),
    youSection(volunteer),
    projectsSection(volunteer),
    leaderboardSection(),
    trustSection(host.publicKey, crypto.ed25519, () => announced),
    activitySection(),
    tasks,
    chart,
    ledger,
  ];
  const [banner, , workers, stats, settingsCard, you, projects, board, trust, activity] = sections;
  page.append(
    banner!.el,
    hero.el,
    h('div', { class: 'columns' }, workers!.el, stats!.el),
    tasks.el,
    chart.el,
    h('div', { class: 'columns' }, settingsCard!.el, you!.el),
    h('div', { class: 'columns' }, projects!.el, board!.el),
    h('div', { class: 'columns' }, trust!.el, activity!.el),
  );
  page.append(ledger.el);
  root.append(footer());

  // #ledger: the verified ledger in place of the rest of the page.
  const route = () => {
    const view = location.hash === '#ledger' ? 'ledger' : 'volunteer';
    document.body.dataset.view = view;
    if (view === 'ledger') {
      ledger.open();
      scrollTo(0, 0);
    }
  };
  addEventListener('hashchange', route);
  route();

  let scheduled = false;
  function render(): void {
    scheduled = false;
    const view = volunteer.view();
    pill.textContent = view.phase === 'stopped' && !volunteer.settings.joined ? 'Ready' : PHASE_LABEL[view.phase];
    pill.dataset.phase = view.phase;
    document.body.dataset.phase = view.phase;
    for (const section of sections) section.update(view);
  }
  volunteer.on('change', () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(render);
  });
  render();

  // Tasks that have nothing to lose go back to the coordinator at once when the tab goes away.
  addEventListener('pagehide', () => volunteer.pageHidden());
  addEventListener('pageshow', (e) => {
    if (e.persisted) volunteer.pageShown();
  });
}

function topbar(pill: HTMLElement): HTMLElement {
  return h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'brand' }, logo(), h('span', null, 'volunteer-grid')),
    pill,
  );
}

function logo(): SVGSVGElement {
  return s(
    'svg',
    { class: 'logo', viewBox: '0 0 32 32', 'aria-hidden': 'true' },
    s('rect', { x: '2', y: '2', width: '12', height: '12', rx: '3' }),
    s('rect', { x: '18', y: '2', width: '12', height: '12', rx: '3', class: 'alt' }),
    s('rect', { x: '2', y: '18', width: '12', height: '12', rx: '3', class: 'alt' }),
    s('rect', { x: '18', y: '18', width: '12', height: '12', rx: '3' }),
  );
}

function footer(): HTMLElement {
  return h(
    'footer',
    { class: 'footer' },
    h(
      'div',
      { class: 'how' },
      h('div', null, h('strong', null, 'Signed'), h('p', null, 'Every task and app comes signed by the coordinator; this page checks each signature and every file’s SHA-256 before anything runs.')),
      h('div', null, h('strong', null, 'Sandboxed'), h('p', null, 'Apps run in Web Workers locked down with SES: no network, no storage, no clock, no access to this page or your key.')),
      h('div', null, h('strong', null, 'Checked'), h('p', null, 'Each task is computed by at least two volunteers. Matching results are accepted and earn credit in a public, signed ledger.')),
    ),
    h('p', { class: 'muted small' }, 'Open source volunteer computing. ', h('a', { href: '#ledger', id: 'ledger-link' }, 'Credit ledger'), ' · ', h('a', { href: '/.well-known/volunteer-grid.json' }, 'Coordinator key')),
  );
}

/** Waits until this tab holds the volunteer lock (held until the tab closes). */
async function oneTabAtATime(onWait: () => void): Promise<void> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return;
  await new Promise<void>((acquired) => {
    let waiting = true;
    setTimeout(() => waiting && onWait(), 300);
    void locks.request('volunteer-grid-volunteer', () => {
      waiting = false;
      acquired();
      return new Promise<never>(() => undefined);
    });
  });
}

function platform(): { engine: string; os?: string } {
  const ua = navigator.userAgent;
  const engine = /Firefox\//.test(ua) ? 'firefox' : /Chrom(e|ium)\//.test(ua) ? 'chromium' : /AppleWebKit\//.test(ua) ? 'webkit' : 'other';
  const os = /Android/.test(ua) ? 'android' : /iPhone|iPad/.test(ua) ? 'ios' : /Windows/.test(ua) ? 'windows' : /Mac OS X/.test(ua) ? 'macos' : /Linux|X11/.test(ua) ? 'linux' : undefined;
  return { engine, ...(os ? { os } : {}) };
}

/** The key the coordinator announces, to show before this browser has trusted one. */
async function announcedKey(): Promise<string | undefined> {
  const found = await fetchWellKnown(location.origin);
  return 'coordinatorKey' in found ? found.coordinatorKey : undefined;
}

void main();
