// Projects, as BOINC Manager's Projects tab: the coordinator's public project list (GET
// /api/v1/public/projects) with what this browser did for each, and per project the volunteer's
// choices: compute for it or not, a resource share, no new tasks, suspend here. Choices go to the
// coordinator with every request for work (volunteer-core/project-choices.ts), except Suspend,
// which holds the project's tasks on this page at their next checkpoint.
import { PublicProjectListSchema, type PublicProject } from '../../../protocol/api.js';
import { DEFAULT_SHARE, MAX_SHARE } from '../../../protocol/limits.js';
import { h, mount, setText } from '../dom.js';
import { count } from '../format.js';
import type { Volunteer, VolunteerView } from '../volunteer.js';
import type { Section } from './section.js';


const REFRESH_MS = 60_000;
const MAX_PAGES = 5;

interface Row {
  el: HTMLLIElement;
  badges: HTMLElement;
  description: HTMLElement;
  facts: HTMLElement;
  enabled: HTMLInputElement;
  share: HTMLInputElement;
  noNew: HTMLInputElement;
  suspend: HTMLButtonElement;
}

export function projectsSection(v: Volunteer): Section {
  let published: PublicProject[] | undefined;
  let listNote = 'Loading the coordinator’s projects…';
  let last: VolunteerView | undefined;
  const list = h('ul', { class: 'projects', id: 'projects' });
  const note = h('p', { class: 'muted small', id: 'projects-note' });
  const rows = new Map<string, Row>();
  const newProjects = h('input', { type: 'checkbox', id: 'new-projects' });
  newProjects.checked = v.settings.newProjects;
  newProjects.addEventListener('change', () => v.setNewProjects(newProjects.checked, [...rows.keys()]));

  const row = (name: string): Row => {
    const id = `p${rows.size}`;
    const enabled = h('input', { type: 'checkbox', class: 'project-enabled', id: `${id}-on` });
    const share = h('input', { type: 'number', class: 'project-share', id: `${id}-share`, min: '0', max: String(MAX_SHARE), step: '10' });
    const noNew = h('input', { type: 'checkbox', class: 'project-nonew', id: `${id}-nonew` });
    const suspend = h('button', { type: 'button', class: 'secondary project-suspend' });
    enabled.addEventListener('change', () => v.setProjectChoice(name, { enabled: enabled.checked }));
    noNew.addEventListener('change', () => v.setProjectChoice(name, { noNewTasks: noNew.checked }));
    share.addEventListener('change', () => {
      const n = Math.round(Number(share.value));
      if (Number.isFinite(n) && n >= 0 && n <= MAX_SHARE) v.setProjectChoice(name, { share: n });
      else share.value = String(v.effectiveChoice(name).share);
    });
    suspend.addEventListener('click', () => v.setProjectChoice(name, { suspended: !(v.choice(name)?.suspended ?? false) }));
    const badges = h('span', { class: 'project-badges' });
    const description = h('span', { class: 'project-description muted small' });
    const facts = h('span', { class: 'muted small project-facts' });
    const el = h(
      'li',
      { class: 'project', 'data-project': name },
      h('div', { class: 'project-head' }, h('span', { class: 'project-name' }, name), badges),
      description,
      facts,
      h(
        'div',
        { class: 'project-controls' },
        h('label', { class: 'check' }, enabled, h('span', null, 'Compute for it')),
        h('label', { class: 'share', for: `${id}-share` }, 'Share ', share),
        h('label', { class: 'check' }, noNew, h('span', null, 'No new tasks')),
        suspend,
      ),
    );
    return { el, badges, description, facts, enabled, share, noNew, suspend };
  };

  const render = () => {
    const view = last;
    const names = new Map<string, PublicProject | undefined>();
    for (const p of published ?? []) names.set(p.name, p);
    // Also those this browser knows of: computed for, chosen for, or in its task list.
    for (const name of [...Object.keys(view?.stats.projects ?? {}), ...Object.keys(v.settings.projects), ...(view?.tasks.map((t) => t.project) ?? [])]) {
      if (!names.has(name)) names.set(name, undefined);
    }
    if (names.size === 0) {
      mount(list, h('li', { class: 'empty muted' }, published ? 'The coordinator has no projects yet.' : 'Projects appear here once this browser computes for them.'));
      rows.clear();
    } else {
      if (list.querySelector('.empty')) mount(list);
      for (const [name, p] of names) {
        let r = rows.get(name);
        if (!r) {
          r = row(name);
          rows.set(name, r);
          list.append(r.el);
        }
        const c = v.effectiveChoice(name);
        const now = view?.workers.filter((w) => w.project === name).length ?? 0;
        const held = view?.tasks.filter((t) => t.project === name && t.hold === 'suspended').length ?? 0;
        const done = view?.stats.projects[name]?.tasks ?? 0;
        const browserApps = p?.apps.filter((a) => a.platforms.includes('browser')) ?? [];
        mount(
          r.badges,
          c.suspended ? h('span', { class: 'badge warn' }, held > 0 ? `suspended · ${held} held` : 'suspended') : null,
          now > 0 ? h('span', { class: 'badge' }, 'computing now') : null,
          p?.hasWork === true && browserApps.length > 0 ? h('span', { class: 'badge quiet' }, 'has work') : null,
          p && browserApps.length === 0 ? h('span', { class: 'badge quiet' }, 'no app for browsers') : null,
        );
        setText(r.description, p?.description ?? '');
        r.description.hidden = !p?.description;
        const apps = p ? p.apps.map((a) => a.name).sort() : [...new Set([...(view?.stats.projects[name]?.apps ?? []), ...(view?.tasks.filter((t) => t.project === name).map((t) => t.app) ?? [])])].sort();
        setText(
          r.facts,
          [
            apps.length > 0 ? `${apps.length === 1 ? 'app' : 'apps'}: ${apps.join(', ')}` : '',
            p?.progress && p.progress.total > 0 ? `${count(p.progress.done)} of ${count(p.progress.total)} work units done` : '',
            `${count(done)} task${done === 1 ? '' : 's'} done here`,
            p || !published ? '' : 'not in the coordinator’s list now',
          ]
            .filter(Boolean)
            .join(' · '),
        );
        r.enabled.checked = c.enabled;
        if (document.activeElement !== r.share) r.share.value = String(c.share);
        r.share.disabled = !c.enabled;
        r.noNew.checked = c.noNewTasks;
        r.noNew.disabled = !c.enabled;
        setText(r.suspend, c.suspended ? 'Resume' : 'Suspend');
        r.suspend.title = c.suspended ? 'Its tasks carry on here' : 'Hold its tasks here at their next checkpoint; other projects use the cores';
        r.el.dataset.enabled = String(c.enabled);
        r.el.dataset.suspended = String(c.suspended);
      }
      for (const [name, r] of rows) if (!names.has(name)) (r.el.remove(), rows.delete(name));
    }
    newProjects.checked = v.settings.newProjects;
    setText(note, listNote);
  };

  const load = async () => {
    try {
      const all: PublicProject[] = [];
      let after = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await fetch(`/api/v1/public/projects?after=${after}&limit=200`, { cache: 'no-cache' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = PublicProjectListSchema.parse(await res.json());
        all.push(...body.projects);
        if (body.next === null) break;
        after = body.next;
      }
      published = all;
      listNote = `The coordinator’s ${all.length} project${all.length === 1 ? '' : 's'}. A share of ${DEFAULT_SHARE} is the default: a project with 200 gets about twice the computing of one with 100 here; 0 only when no other project has work.`;
    } catch {
      listNote = 'The coordinator’s project list is not available right now: these are the projects this browser knows of.';
    }
    render();
  };
  void load();
  setInterval(() => void load(), REFRESH_MS);

  return {
    el: h(
      'section',
      { class: 'card', id: 'projects-card' },
      h('h2', null, 'Projects'),
      h('p', { class: 'muted small' }, 'Choose what this browser computes for. Your choices go to the coordinator with every request for work; Suspend holds a project’s tasks here at their next checkpoint.'),
      h('label', { class: 'check' }, newProjects, h('span', null, 'Also compute for projects I have not chosen')),
      list,
      note,
    ),
    update(view) {
      last = view;
      render();
    },
  };
}
