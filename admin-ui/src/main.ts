// The admin UI: checks the session, then routes hash URLs to pages inside the app shell.
import './styles.css';
import { del, get, onSessionLost, setSession } from './api';
import type { Session } from '../../protocol/api';
import { h, mount } from './dom';
import { disconnectLive } from './live';
import type { Page, PageContext } from './page';
import { accountPage } from './pages/account';
import { accountsPage } from './pages/accounts';
import { batchPage } from './pages/batch';
import { hostsPage } from './pages/hosts';
import { leaderboardsPage } from './pages/leaderboards';
import { isSession, loginScreen } from './pages/login';
import { newBatchPage } from './pages/new-batch';
import { projectPage } from './pages/project';
import { projectsPage } from './pages/projects';
import { tokensPage } from './pages/tokens';
import { validationPage } from './pages/validation';
import { workunitPage } from './pages/workunit';
import { currentRoute, match, navigate } from './router';
import { badge } from './ui/badges';
import { errorBox } from './ui/states';

type PageFactory = (ctx: PageContext) => Page;

const ROUTES: [pattern: string, page: PageFactory, nav: string][] = [
  ['/projects', projectsPage, 'projects'],
  ['/projects/:id', projectPage, 'projects'],
  ['/projects/:id/new-batch', newBatchPage, 'projects'],
  ['/batches/:id', batchPage, 'projects'],
  ['/batches/:id/validation', validationPage, 'projects'],
  ['/workunits/:id', workunitPage, 'projects'],
  ['/hosts', hostsPage, 'hosts'],
  ['/leaderboards', leaderboardsPage, 'leaderboards'],
  ['/tokens', tokensPage, 'tokens'],
  ['/accounts', accountsPage, 'accounts'],
  ['/account', accountPage, 'account'],
];

const NAV: [key: string, label: string, href: string, adminOnly: boolean][] = [
  ['projects', 'Projects', '#/projects', false],
  ['hosts', 'Hosts', '#/hosts', false],
  ['leaderboards', 'Leaderboards', '#/leaderboards', false],
  ['tokens', 'API tokens', '#/tokens', false],
  ['accounts', 'Accounts', '#/accounts', true],
];

const appRoot = document.getElementById('app')!;
let session: Session | null = null;
let page: Page | null = null;

function leavePage(): void {
  page?.dispose?.();
  page = null;
}

function brand(): HTMLElement {
  return h('a', { class: 'brand', href: '#/projects' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', null, 'volunteer-grid'));
}

function shell(s: Session, active: string, content: HTMLElement): HTMLElement {
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    NAV.filter(([, , , adminOnly]) => !adminOnly || s.account.role === 'admin').map(([key, label, href]) =>
      h('a', { href, class: key === active ? 'nav-link active' : 'nav-link', 'aria-current': key === active ? 'page' : null }, label),
    ),
  );
  const logout = h('button', { type: 'button', class: 'btn btn-sm btn-ghost', onclick: () => void logOut() }, 'Log out');
  const account = h('a', { class: active === 'account' ? 'btn btn-sm btn-ghost active' : 'btn btn-sm btn-ghost', href: '#/account', 'aria-current': active === 'account' ? 'page' : null }, 'Account');
  return h(
    'div',
    { class: 'shell' },
    h(
      'aside',
      { class: 'sidebar' },
      brand(),
      nav,
      h(
        'div',
        { class: 'whoami', 'aria-label': 'Signed in as' },
        h(
          'div',
          { class: 'whoami-who' },
          h('div', { class: 'avatar', 'aria-hidden': 'true' }, s.account.name.slice(0, 1).toUpperCase()),
          h('div', { class: 'whoami-text' }, h('div', { class: 'whoami-name', title: s.account.name }, s.account.name), badge(s.account.role)),
        ),
        h('div', { class: 'whoami-actions' }, account, logout),
      ),
    ),
    h('main', { class: 'content', id: 'main' }, content),
  );
}

function render(): void {
  leavePage();
  const route = currentRoute();
  if (route.path === '/' || route.path === '') return navigate('#/projects');
  if (!session) {
    // The leaderboards are public; everything else needs a login.
    if (route.path === '/leaderboards') {
      page = leaderboardsPage({ query: route.query });
      document.title = 'Leaderboards · volunteer-grid';
      return mount(appRoot, h('div', { class: 'public' }, h('header', { class: 'public-bar' }, brand(), h('a', { class: 'btn btn-sm', href: '#/projects' }, 'Log in')), h('main', { class: 'content' }, page.el)));
    }
    return showLogin();
  }
  for (const [pattern, factory, nav] of ROUTES) {
    const params = match(pattern, route.path);
    if (!params) continue;
    page = factory({ session, params, query: route.query });
    document.title = `${page.title} · volunteer-grid`;
    mount(appRoot, shell(session, nav, page.el));
    return;
  }
  mount(appRoot, shell(session, '', h('div', null, errorBox(`There is no page at ${route.path}.`, 'Not found'), h('a', { href: '#/projects' }, 'Go to projects'))));
}

function showLogin(message?: string): void {
  leavePage();
  document.title = 'Log in · volunteer-grid';
  mount(
    appRoot,
    loginScreen((s) => {
      session = s;
      setSession(s);
      render();
    }, message),
  );
}

async function logOut(): Promise<void> {
  await del('/session');
  session = null;
  setSession(null);
  disconnectLive();
  showLogin('You are logged out.');
}

onSessionLost(() => {
  if (!session) return;
  session = null;
  setSession(null);
  disconnectLive();
  showLogin('Your session ended. Log in again.');
});

window.addEventListener('hashchange', () => render());

void (async () => {
  const res = await get<Session>('/session', isSession);
  if (res.ok) {
    session = res.value;
    setSession(session);
  } else if (res.error.status !== 401) {
    mount(appRoot, h('div', { class: 'login-screen' }, errorBox(res.error, 'Cannot reach the coordinator')));
    return;
  }
  render();
})();
