// One project: its description and state, its apps and their versions, its batches.
import { get, hasArray, hasNumber, patch } from '../api';
import type { BatchStatus, Project, ProjectDetail } from '../../../protocol/api';
import { h, mount, type Child } from '../dom';
import { credit, int } from '../format';
import { card, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { toast } from '../ui/dialog';
import { busy, checkbox, field, input } from '../ui/form';
import { errorBox, loading, notice } from '../ui/states';
import { emptyState } from '../ui/table';
import { newAppForm } from './project/app-forms';
import { appSection } from './project/app-section';
import { batchesTable } from './project/batches-table';

const isDetail = (v: unknown): v is ProjectDetail => hasNumber<ProjectDetail>('id')(v) && Array.isArray(v.apps) && Array.isArray(v.batches);

function stat(label: string, value: string, tone = ''): HTMLElement {
  return h('div', { class: `stat ${tone}`.trim() }, h('div', { class: 'stat-value num' }, value), h('div', { class: 'stat-label' }, label));
}

function editForm(project: Project, onSaved: (p: Project) => void, onCancel: () => void): HTMLElement {
  const name = input({ name: 'name', value: project.name, required: true, maxlength: 100 });
  const description = h('textarea', { name: 'description', rows: 3, maxlength: 2000 });
  description.value = project.description;
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save');
  return h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        void busy(submit, 'Saving…', async () => {
          const res = await patch<Project>(`/projects/${project.id}`, { name: name.value.trim(), description: description.value.trim() }, hasNumber('id'));
          if (!res.ok) return mount(status, errorBox(res.error, 'Could not save'));
          onSaved(res.value);
        });
      },
    },
    field('Project name', name),
    field('Description', description, { wide: true }),
    h('div', { class: 'form-actions field-wide' }, submit, h('button', { type: 'button', class: 'btn', onclick: onCancel }, 'Cancel'), status),
  );
}

export function projectPage(ctx: PageContext): Page {
  const id = Number(ctx.params.id);
  const root = h('div', null, loading('Loading the project…'));
  let disposed = false;

  const render = (p: ProjectDetail) => {
    const headerSlot = h('div');
    const newAppSlot = h('div');
    const pauseButton = h('button', { type: 'button', class: 'btn' }, p.status === 'paused' ? 'Resume project' : 'Pause project');
    pauseButton.addEventListener('click', () => {
      const next = p.status === 'paused' ? 'active' : 'paused';
      void busy(pauseButton, next === 'paused' ? 'Pausing…' : 'Resuming…', async () => {
        const res = await patch<Project>(`/projects/${p.id}`, { status: next }, hasNumber('id'));
        if (!res.ok) return toast(res.error.message, 'error');
        toast(next === 'paused' ? 'Project paused: no new tasks are handed out' : 'Project resumed', 'success');
        void reload();
      });
    });
    const editButton = h('button', { type: 'button', class: 'btn' }, 'Edit');
    const newBatch = p.apps.some((a) => a.versions.length > 0) ? h('a', { class: 'btn btn-primary', href: `#/projects/${p.id}/new-batch` }, 'New batch') : null;
    const header = () =>
      pageHeader(p.name, {
        crumbs: [{ label: 'Projects', href: '#/projects' }],
        badge: badge(p.status),
        actions: [editButton, pauseButton, newBatch],
        subtitle: p.description || h('span', { class: 'muted' }, 'No description.'),
      });
    mount(headerSlot, header());
    editButton.addEventListener('click', () =>
      mount(
        headerSlot,
        pageHeader(p.name, { crumbs: [{ label: 'Projects', href: '#/projects' }] }),
        card('Edit project', editForm(p, () => void reload(), () => mount(headerSlot, header()))),
      ),
    );

    const batchesSlot = h('div', null, loading('Loading batches…'));
    // Archived batches are left out of the list unless asked for (and then the API lists only
    // them): both lists are read, so that the switch can say how many are hidden.
    const showArchived = checkbox('Show archived', { name: 'archived' });
    let batches: { current: BatchStatus[]; archived: BatchStatus[] } | null = null;
    const showBatches = () => {
      if (!batches) return;
      const n = batches.archived.length;
      showArchived.el.querySelector('label')!.textContent = `Show archived (${int(n)})`;
      const rows = showArchived.input.checked ? [...batches.current, ...batches.archived] : batches.current;
      mount(batchesSlot, batchesTable(rows, true, n && !showArchived.input.checked ? `No batches but archived ones (${int(n)}): tick Show archived to list them.` : undefined));
    };
    const loadBatches = async () => {
      const list = (archived: boolean) => get<{ batches: BatchStatus[] }>(`/batches?projectId=${p.id}${archived ? '&archived=true' : ''}`, hasArray('batches'));
      const [current, archived] = await Promise.all([list(false), list(true)]);
      if (disposed) return;
      if (!current.ok) return mount(batchesSlot, errorBox(current.error, 'Could not load the batches'));
      if (!archived.ok) return mount(batchesSlot, errorBox(archived.error, 'Could not load the archived batches'));
      batches = { current: current.value.batches, archived: archived.value.batches };
      showBatches();
    };
    showArchived.input.addEventListener('change', showBatches);
    void loadBatches();
    const total = p.workunits.active + p.workunits.done + p.workunits.failed + p.workunits.cancelled;
    const stats = h(
      'div',
      { class: 'stats' },
      stat('Work units', int(total)),
      stat('Active', int(p.workunits.active), 'tone-blue'),
      stat('Done', int(p.workunits.done), 'tone-green'),
      stat('Failed', int(p.workunits.failed), p.workunits.failed ? 'tone-red' : ''),
      p.workunits.cancelled ? stat('Cancelled', int(p.workunits.cancelled)) : null,
      stat('Owner', p.ownerName ?? '—'),
      // Set by an admin with PUT /api/v1/projects/:id/credit-cap (docs/api.md).
      stat(`Credit cap per result${p.creditCap.isDefault ? ' (default)' : ''}`, credit(p.creditCap.maxPerResult)),
    );
    const newAppButton = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-sm btn-primary',
        onclick: () => (newAppSlot.childElementCount ? mount(newAppSlot) : mount(newAppSlot, h('div', { class: 'inset' }, h('h3', null, 'New app'), newAppForm(p.id, () => void reload())))),
      },
      'New app',
    );
    const apps: Child = p.apps.length
      ? p.apps.map((a) => appSection(a, p.id, () => void reload()))
      : emptyState('No apps yet. An app is the code volunteers run; create one, then upload its files.');
    mount(
      root,
      headerSlot,
      p.status === 'paused' ? notice('warning', h('strong', null, 'Paused. '), 'Volunteers get no new tasks from this project; tasks already out finish normally.') : null,
      stats,
      card('Apps', [newAppSlot, apps], { actions: newAppButton }),
      card('Batches', batchesSlot, { actions: [showArchived.el, newBatch ? h('a', { class: 'btn btn-sm', href: `#/projects/${p.id}/new-batch` }, 'New batch') : null], className: 'card-flush' }),
    );
  };

  const reload = async () => {
    const res = await get<ProjectDetail>(`/projects/${id}`, isDetail);
    if (disposed) return;
    if (!res.ok) return mount(root, pageHeader('Project', { crumbs: [{ label: 'Projects', href: '#/projects' }] }), errorBox(res.error, res.error.status === 404 ? 'No such project' : 'Could not load the project'));
    render(res.value);
  };
  void reload();
  return { title: 'Project', el: root, dispose: () => (disposed = true) };
}
