// One app of a project: its validation and policy, its versions (newest first) and the form
// for the next version.
import type { App, Validation } from '../../../../protocol/api';
import { h, mount } from '../../dom';
import { bytes } from '../../format';
import { badge } from '../../ui/badges';
import { hashCell, timeCell } from '../../ui/cells';
import { table } from '../../ui/table';
import { uploadVersionForm } from './app-forms';

function validationText(v: Validation): string {
  return v.mode === 'exact' ? 'Exact match' : `Tolerance (abs ${v.absEpsilon}, rel ${v.relEpsilon})`;
}

function versionsTable(app: App): HTMLElement {
  const versions = [...app.versions].sort((a, b) => b.version - a.version);
  return table(
    [
      { label: 'Version', render: (v) => h('strong', null, `v${v.version}`) },
      { label: 'Platform', render: (v) => badge(v.platform, 'grey') },
      { label: 'Bundle', render: (v) => hashCell(v.bundleHash) },
      {
        label: 'Files',
        render: (v) => h('ul', { class: 'file-list' }, v.files.map((f) => h('li', null, h('code', null, f.name), h('span', { class: 'muted' }, ` ${bytes(f.size)}`)))),
      },
      { label: 'Requirements', render: (v) => (Object.keys(v.requirements ?? {}).length ? h('code', { class: 'small' }, JSON.stringify(v.requirements)) : h('span', { class: 'muted' }, 'none')) },
      { label: 'Uploaded', align: 'num', render: (v) => timeCell(v.createdAt) },
    ],
    versions,
    { empty: 'No version yet: upload the app\u2019s files to make it runnable.' },
  );
}

export function appSection(app: App, projectId: number, reload: () => void): HTMLElement {
  const formSlot = h('div');
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-sm',
      onclick: () => (formSlot.childElementCount ? mount(formSlot) : mount(formSlot, h('div', { class: 'inset' }, h('h3', null, `Upload a new version of ${app.name}`), uploadVersionForm(app, reload)))),
    },
    'Upload new version',
  );
  return h(
    'section',
    { class: 'app-block', 'aria-label': `App ${app.name}` },
    h(
      'div',
      { class: 'app-head' },
      h(
        'div',
        null,
        h('h3', null, app.name),
        h(
          'div',
          { class: 'meta' },
          h('span', null, validationText(app.validation)),
          app.homogeneousRedundancy ? badge('homogeneous redundancy', 'violet') : null,
          app.adaptiveReplication ? badge('adaptive replication', 'violet') : null,
          h('span', { class: 'muted' }, `${app.versions.length} version${app.versions.length === 1 ? '' : 's'}`),
        ),
      ),
      h('div', { class: 'card-actions' }, toggle, app.versions.length ? h('a', { class: 'btn btn-sm', href: `#/projects/${projectId}/new-batch?app=${app.id}` }, 'New batch') : null),
    ),
    formSlot,
    versionsTable(app),
  );
}

