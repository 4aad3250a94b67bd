// One app of a project: its validation and policy, its versions (newest first) with what is
// sent and what is not (retired, broken), retiring and bringing back, and the form for the
// next version.
import { hasNumber, patch } from '../../api';
import type { App, AppVersion, Validation } from '../../../../protocol/api';
import { describeKind, type AppKind } from '../../../../protocol/app-kind';
import { h, mount } from '../../dom';
import { bytes } from '../../format';
import { badge } from '../../ui/badges';
import { hashCell, timeCell } from '../../ui/cells';
import { confirmDialog, toast } from '../../ui/dialog';
import { busy } from '../../ui/form';
import { notice } from '../../ui/states';
import { table } from '../../ui/table';
import { uploadVersionForm } from './app-forms';

function validationText(v: Validation): string {
  return v.mode === 'exact' ? 'Exact match' : `Tolerance (abs ${v.absEpsilon}, rel ${v.relEpsilon})`;
}

type Kind = 'node' | 'browser';
const KIND_WORDS: Record<Kind, string> = { node: 'Node volunteers', browser: 'browsers' };

/**
 * Which version new tasks go out with, per kind of volunteer: the newest not retired that suits
 * it — unless that one is broken, then none (coordinator/work/app-matching.ts). Requirements
 * (WebAssembly, memory) can still send a host an older version; batches pinned to a version get
 * that one.
 */
function sentVersions(versions: AppVersion[]): Map<Kind, AppVersion> {
  const newestFirst = [...versions].sort((a, b) => b.version - a.version);
  const sent = new Map<Kind, AppVersion>();
  for (const kind of ['node', 'browser'] as const) {
    const v = newestFirst.find((x) => x.retiredAt === null && (x.platform === 'any' || x.platform === kind));
    if (v) sent.set(kind, v);
  }
  return sent;
}

function stateCell(v: AppVersion, sent: Map<Kind, AppVersion>): HTMLElement {
  const kinds = [...sent].filter(([, x]) => x.id === v.id).map(([k]) => k);
  const sub = (text: string) => h('div', { class: 'muted small wrap' }, text);
  if (v.retiredAt !== null) return h('div', { class: 'version-state' }, badge('retired', 'grey'), h('div', { class: 'muted small' }, 'since ', timeCell(v.retiredAt)));
  if (v.broken) {
    return h(
      'div',
      { class: 'version-state' },
      badge('broken', 'red'),
      h('div', { class: 'small wrap text-red' }, v.broken.reason),
      kinds.length ? sub('No task of this app is sent with it, nor with an older version.') : null,
    );
  }
  if (kinds.length === 0) {
    const newer = [...sent.values()].find((x) => x.version > v.version);
    return h('div', { class: 'version-state' }, badge('not sent', 'grey'), sub(newer ? `version ${newer.version} is newer` : 'no volunteer platform picks it'));
  }
  const to = kinds.length === 2 || (v.platform !== 'any' && kinds.includes(v.platform)) ? 'new tasks go out with it' : `new tasks for ${KIND_WORDS[kinds[0]!]} go out with it`;
  return h('div', { class: 'version-state' }, badge('sent', 'green'), sub(to));
}

/** What retiring `v` changes, in words. */
function retireConsequence(v: AppVersion, all: AppVersion[]): string {
  const sentNow = [...sentVersions(all).values()].some((x) => x.id === v.id);
  if (!sentNow) return 'It is not what new tasks go out with now; batches pinned to it stop getting tasks.';
  const after = [...sentVersions(all.map((x) => (x.id === v.id ? { ...x, retiredAt: Date.now() } : x))).values()];
  const next = after.sort((a, b) => b.version - a.version)[0];
  return next
    ? `New tasks go out with version ${next.version} instead${next.broken ? ', which is broken: none will' : ''}. Tasks already out finish with the version they have.`
    : 'No version is left: no task of this app goes out until one is brought back or uploaded.';
}

function retireButton(app: App, v: AppVersion, reload: () => void): HTMLButtonElement {
  const retired = v.retiredAt !== null;
  const button = h('button', { type: 'button', class: retired ? 'btn btn-sm' : 'btn btn-sm btn-danger-quiet', 'aria-label': `${retired ? 'Bring back' : 'Retire'} version ${v.version}` }, retired ? 'Bring back' : 'Retire');
  button.addEventListener('click', () => {
    void (async () => {
      if (!retired && !(await confirmDialog(`Retire version ${v.version}?`, h('p', null, `No new task goes out with it. ${retireConsequence(v, app.versions)} You can bring it back.`), 'Retire'))) return;
      await busy(button, retired ? 'Bringing back…' : 'Retiring…', async () => {
        const res = await patch<AppVersion>(`/apps/${app.id}/versions/${v.version}`, { retired: !retired }, hasNumber('version'));
        if (!res.ok) return toast(res.error.message, 'error');
        toast(retired ? `Version ${v.version} is back` : `Version ${v.version} retired`, 'success');
        reload();
      });
    })();
  });
  return button;
}

/** What the upload found a version to be (protocol/app-kind.ts). */
const KIND_LABELS: Record<AppKind, string> = { javascript: 'JavaScript module', wasi: 'WASI program', python: 'Python app' };

function versionsTable(app: App, reload: () => void): HTMLElement {
  const versions = [...app.versions].sort((a, b) => b.version - a.version);
  const sent = sentVersions(versions);
  return table(
    [
      { label: 'Version', render: (v) => h('div', null, h('strong', null, `v${v.version}`), h('div', { class: 'small' }, hashCell(v.bundleHash, 8))) },
      { label: 'Kind', render: (v) => h('span', { title: `The upload found ${describeKind(v.kind)}; its entry is ${v.entry}` }, KIND_LABELS[v.kind]) },
      { label: 'Platform', render: (v) => badge(v.platform, 'grey') },
      { label: 'State', render: (v) => stateCell(v, sent) },
      {
        label: 'Files',
        render: (v) => h('ul', { class: 'file-list' }, v.files.map((f) => h('li', null, h('code', { class: 'wrap' }, f.name), h('span', { class: 'muted' }, ` ${bytes(f.size)}`)))),
      },
      { label: 'Requirements', render: (v) => (Object.keys(v.requirements ?? {}).length ? h('code', { class: 'small wrap' }, JSON.stringify(v.requirements)) : h('span', { class: 'muted' }, 'none')) },
      { label: 'Uploaded', align: 'num', render: (v) => timeCell(v.createdAt) },
      { label: '', align: 'num', render: (v) => retireButton(app, v, reload) },
    ],
    versions,
    { empty: 'No version yet: upload the app\u2019s files to make it runnable.', rowClass: (v) => (v.retiredAt !== null ? 'row-muted' : null) },
  );
}

/** Said above the versions when no task of the app goes out. */
function stuckNotice(app: App): HTMLElement | null {
  if (app.versions.length === 0) return null;
  const sent = [...sentVersions(app.versions).values()];
  if (sent.length === 0) return notice('warning', h('strong', null, 'Every version is retired. '), 'No task of this app goes out (unless its batch is pinned to a version): bring one back or upload a new one.');
  const broken = sent.filter((v) => v.broken);
  if (broken.length === 0) return null;
  const v = broken[0]!;
  return notice(
    'warning',
    h('strong', null, `Version ${v.version} is broken. `),
    'It failed to load on every volunteer that ran it, so tasks do not go out with it nor with an older version. Upload a fixed version (tasks go out with it at once), or retire this one to go back to the one before.',
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
    stuckNotice(app),
    versionsTable(app, reload),
  );
}

