// All projects (an admin sees everyone's), with work-unit counts, and creating one.
import { get, hasArray, hasNumber, post } from '../api';
import type { Project } from '../../../protocol/api';
import { h, mount } from '../dom';
import { int } from '../format';
import { timeCell } from '../ui/cells';
import { navigate } from '../router';
import { card, loadInto, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { busy, field, input } from '../ui/form';
import { stackedMini } from '../ui/progress';
import { errorBox } from '../ui/states';
import { emptyState, table } from '../ui/table';

function newProjectForm(onDone: () => void): HTMLElement {
  const name = input({ name: 'name', required: true, maxlength: 100, placeholder: 'protein-folding' });
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 2000, placeholder: 'What this project computes, for whom' });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create project');
  return h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Creating…', async () => {
          const body: { name: string; description?: string } = { name: name.value.trim() };
          if (description.value.trim()) body.description = description.value.trim();
          const res = await post<Project>('/projects', body, hasNumber('id'));
          if (!res.ok) return mount(status, errorBox(res.error, 'Could not create the project'));
          onDone();
          navigate(`#/projects/${res.value.id}`);
        });
      },
    },
    field('Project name', name),
    field('Description', description, { wide: true }),
    h('div', { class: 'form-actions field-wide' }, submit, status),
  );
}

export function projectsPage(ctx: PageContext): Page {
  const formSlot = h('div');
  const listSlot = h('div');
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-primary',
      onclick: () => {
        if (formSlot.childElementCount) return mount(formSlot);
        mount(formSlot, card('New project', newProjectForm(() => mount(formSlot))));
        formSlot.querySelector('input')?.focus();
      },
    },
    'New project',
  );
  void loadInto(
    listSlot,
    () => get<{ projects: Project[] }>('/projects', hasArray('projects')),
    ({ projects }) =>
      card(
        null,
        table(
          [
            // Long names and descriptions wrap (a description to two lines), so the table fits its card.
            {
              label: 'Project',
              className: 'cell-name',
              render: (p) => h('div', null, h('a', { href: `#/projects/${p.id}`, class: 'strong wrap' }, p.name), p.description ? h('div', { class: 'muted small clamp-2', title: p.description }, p.description) : null),
            },
            ...(ctx.session.account.role === 'admin' ? [{ label: 'Owner', className: 'wrap', render: (p: Project) => p.ownerName ?? '—' }] : []),
            { label: 'Status', render: (p) => badge(p.status) },
            { label: 'Progress', className: 'cell-bar', render: (p) => stackedMini(p.workunits) },
            { label: 'Active', align: 'num', render: (p) => int(p.workunits.active) },
            { label: 'Done', align: 'num', render: (p) => int(p.workunits.done) },
            { label: 'Failed', align: 'num', render: (p) => int(p.workunits.failed) },
            { label: 'Created', align: 'num', render: (p) => timeCell(p.createdAt) },
          ],
          projects,
          {
            onRowClick: (p) => navigate(`#/projects/${p.id}`),
            empty: emptyState('No projects yet. A project holds your apps and their batches of work.', h('button', { type: 'button', class: 'btn btn-primary', onclick: () => toggle.click() }, 'Create your first project')),
          },
        ),
        { className: 'card-flush' },
      ),
    'Loading projects…',
  );
  return {
    title: 'Projects',
    el: h('div', null, pageHeader('Projects', { actions: toggle, subtitle: 'Apps and batches of work, grouped by project.' }), formSlot, listSlot),
  };
}
