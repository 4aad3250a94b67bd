// Repairing a batch (docs/api.md, "Repairing a batch"): retry its failed work units, all or by
// error code; pin it to a version of its app, or back to the newest; archive it once finished.
// Each action hands the batch's new status to `apply`, so the page shows it without waiting for
// a push.
import { get, hasArray, hasNumber, isRecord, patch, post } from '../../api';
import type { App, AppVersion, BatchErrors, BatchStatus, Retried } from '../../../../protocol/api';
import { h, uid } from '../../dom';
import { dateTime, int } from '../../format';
import { openDialog, toast } from '../../ui/dialog';
import { busy, field, select } from '../../ui/form';

type Apply = (s: BatchStatus) => void;

const isStatus = (v: unknown): v is BatchStatus => hasNumber<BatchStatus>('id')(v) && isRecord(v.workunits);
const plural = (n: number, one: string, many = `${one}s`) => `${int(n)} ${n === 1 ? one : many}`;

/** Why a version gets no task, or null when it may. */
export function versionProblem(v: AppVersion): string | null {
  if (v.broken) return `broken: ${v.broken.reason}`;
  if (v.retiredAt !== null) return 'retired';
  return null;
}

/** The version new tasks of the batch go out with, in words. */
function versionWords(s: BatchStatus, app: App | null): string {
  if (s.appVersion !== null) return `version ${s.appVersion}, which the batch is pinned to`;
  const newest = app?.versions.filter((v) => v.retiredAt === null).sort((a, b) => b.version - a.version)[0];
  return newest ? `the app's newest version that is not retired (now version ${newest.version})` : "the app's newest version";
}

async function appOf(s: BatchStatus): Promise<App | null> {
  const res = await get<App>(`/apps/${s.appId}`, hasArray('versions'));
  return res.ok ? res.value : null;
}

async function retry(s: BatchStatus, apply: Apply, button: HTMLButtonElement): Promise<void> {
  const [errors, app] = await busy(button, 'Loading…', () =>
    Promise.all([get<BatchErrors>(`/batches/${s.id}/errors?limit=1`, (v): v is BatchErrors => isRecord(v) && isRecord(v.byCode)), appOf(s)]),
  );
  const codes = errors.ok ? Object.entries(errors.value.byCode).sort((a, b) => b[1] - a[1]) : [];
  const failed = s.workunits.failed;
  const group = uid('which');
  const all = h('input', { type: 'radio', name: group, value: 'all', id: uid('r'), checked: true });
  const some = h('input', { type: 'radio', name: group, value: 'codes', id: uid('r'), disabled: codes.length === 0 });
  const boxes = codes.map(([code, n]) => {
    const box = h('input', { type: 'checkbox', value: code, id: uid('c') });
    box.addEventListener('change', () => box.checked && (some.checked = true));
    return { code, box, el: h('div', { class: 'check' }, box, h('label', { for: box.id }, h('code', null, code), h('span', { class: 'muted' }, ` ${plural(n, 'error')}`))) };
  });
  const chosen = () => boxes.filter((b) => b.box.checked).map((b) => b.code);
  const ok = await openDialog({
    title: 'Retry failed work units?',
    body: [
      h(
        'p',
        null,
        `Failed work units become active again and get new replicas at once. What they had before counts for nothing: their error and replica budgets start afresh, and every volunteer may take them again. Their new tasks go out with ${versionWords(s, app)}.`,
      ),
      h('p', { class: 'muted small' }, 'Fix the cause first: upload a fixed version of the app, or pin the batch to one that works.'),
      h(
        'fieldset',
        { class: 'dialog-choices' },
        h('legend', null, 'Which work units'),
        h('div', { class: 'check' }, all, h('label', { for: all.id }, `All ${plural(failed, 'failed work unit')}`)),
        h('div', { class: 'check' }, some, h('label', { for: some.id }, codes.length ? 'Only those whose last attempt failed with:' : 'By error code (no errors were reported)')),
        codes.length ? h('div', { class: 'dialog-codes' }, boxes.map((b) => b.el)) : null,
      ),
    ],
    confirmLabel: 'Retry',
    cancelLabel: 'Not now',
    tone: 'primary',
    validate: () => (some.checked && chosen().length === 0 ? 'Choose at least one error code, or retry all of them.' : null),
  });
  if (!ok) return;
  await busy(button, 'Retrying…', async () => {
    const res = await post<Retried>(`/batches/${s.id}/retry`, some.checked ? { codes: chosen() } : {}, hasNumber('retried'));
    if (!res.ok) return toast(res.error.message, 'error');
    const n = res.value.retried;
    toast(n === 0 ? 'No failed work unit matched: nothing was retried' : `${plural(n, 'work unit')} retried`, n === 0 ? 'info' : 'success');
    const now = await get<BatchStatus>(`/batches/${s.id}`, isStatus);
    if (now.ok) apply(now.value);
  });
}

async function pin(s: BatchStatus, apply: Apply, button: HTMLButtonElement): Promise<void> {
  const app = await busy(button, 'Loading…', () => appOf(s));
  if (!app) return toast('Could not load the versions of the app', 'error');
  const versions = [...app.versions].sort((a, b) => b.version - a.version);
  const choice = select([['', 'The newest version (the default)'] as const, ...versions.map((v) => [String(v.version), `Version ${v.version}, uploaded ${dateTime(v.createdAt)}`] as const)], { name: 'version' });
  choice.value = s.appVersion === null ? '' : String(s.appVersion);
  // A retired or broken version gets no tasks: the API refuses to pin it.
  versions.forEach((v, i) => {
    const problem = versionProblem(v);
    const option = choice.options[i + 1]!;
    if (problem) {
      option.disabled = true;
      option.textContent += ` (${problem})`;
    }
  });
  const ok = await openDialog({
    title: 'Pin to a version',
    body: [
      h('p', null, `Tasks of this batch go out with the chosen version of ${app.name} only; tasks already out finish with the version they have. With "the newest", they follow new uploads.`),
      field('Version', choice),
    ],
    confirmLabel: 'Save',
    cancelLabel: 'Cancel',
    tone: 'primary',
  });
  if (!ok) return;
  const appVersion = choice.value === '' ? null : Number(choice.value);
  if (appVersion === s.appVersion) return;
  await busy(button, 'Saving…', async () => {
    const res = await patch<BatchStatus>(`/batches/${s.id}`, { appVersion }, isStatus);
    if (!res.ok) return toast(res.error.message, 'error');
    toast(appVersion === null ? 'The batch follows the newest version again' : `Pinned to version ${appVersion}`, 'success');
    apply(res.value);
  });
}

async function archive(s: BatchStatus, apply: Apply, button: HTMLButtonElement): Promise<void> {
  await busy(button, s.archived ? 'Unarchiving…' : 'Archiving…', async () => {
    const res = await patch<BatchStatus>(`/batches/${s.id}`, { archived: !s.archived }, isStatus);
    if (!res.ok) return toast(res.error.message, 'error');
    toast(res.value.archived ? 'Archived: the project lists it only when asked to show archived batches' : 'Unarchived', 'success');
    apply(res.value);
  });
}

/** The repair buttons that suit the batch as it is now; each acts on the status `latest` gives when clicked. */
export function repairActions(s: BatchStatus, latest: () => BatchStatus, apply: Apply): HTMLButtonElement[] {
  const button = (label: string, action: typeof retry) => {
    const b = h('button', { type: 'button', class: 'btn' }, label);
    b.addEventListener('click', () => void action(latest(), apply, b));
    return b;
  };
  const buttons: HTMLButtonElement[] = [];
  if (s.workunits.failed > 0 && s.status !== 'cancelled') buttons.push(button('Retry failed work units', retry));
  if (s.status !== 'cancelled') buttons.push(button('Pin to version…', pin));
  if (s.status !== 'active') buttons.push(button(s.archived ? 'Unarchive' : 'Archive', archive));
  return buttons;
}
