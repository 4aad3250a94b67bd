// Creating an app (name, validation, replication policy) and uploading a version of it
// (multipart: one part per file, with upload progress).
import { hasNumber, isRecord, post, upload } from '../../api';
import type { App, AppVersion, Validation } from '../../../../protocol/api';
import { describeKind } from '../../../../protocol/app-kind';
import { h, mount } from '../../dom';
import { bytes } from '../../format';
import { toast } from '../../ui/dialog';
import { busy, checkbox, field, input, select } from '../../ui/form';
import { errorBox } from '../../ui/states';

export function newAppForm(projectId: number, onCreated: () => void): HTMLElement {
  const name = input({ name: 'name', required: true, maxlength: 100, placeholder: 'primes' });
  const mode = select(
    [
      ['exact', 'Exact: identical outputs'],
      ['tolerance', 'Tolerance: numbers within epsilons'],
    ],
    { name: 'validation' },
  );
  const absEpsilon = input({ name: 'absEpsilon', type: 'number', step: 'any', min: 0, value: '1e-9' });
  const relEpsilon = input({ name: 'relEpsilon', type: 'number', step: 'any', min: 0, value: '1e-6' });
  const epsilons = h('div', { class: 'field-row', hidden: true }, field('Absolute epsilon', absEpsilon), field('Relative epsilon', relEpsilon));
  mode.addEventListener('change', () => (epsilons.hidden = mode.value !== 'tolerance'));
  const hr = checkbox('Homogeneous redundancy (all replicas on one platform class)');
  const ar = checkbox('Adaptive replication (trusted hosts get single replicas)');
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create app');
  return h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        const validation: Validation =
          mode.value === 'tolerance' ? { mode: 'tolerance', absEpsilon: Number(absEpsilon.value), relEpsilon: Number(relEpsilon.value) } : { mode: 'exact' };
        if (validation.mode === 'tolerance' && !(validation.absEpsilon >= 0 && validation.relEpsilon >= 0)) {
          return mount(status, errorBox('Both epsilons must be numbers of at least 0.', 'Check the tolerance'));
        }
        void busy(submit, 'Creating…', async () => {
          const res = await post<App>(
            `/projects/${projectId}/apps`,
            { name: name.value.trim(), validation, homogeneousRedundancy: hr.input.checked, adaptiveReplication: ar.input.checked },
            hasNumber('id'),
          );
          if (!res.ok) return mount(status, errorBox(res.error, 'Could not create the app'));
          toast(`App ${res.value.name} created`, 'success');
          onCreated();
        });
      },
    },
    field('App name', name),
    field('Validation', mode),
    h('div', { class: 'field-wide' }, epsilons),
    h('div', { class: 'field-wide checks' }, hr.el, ar.el),
    h('div', { class: 'form-actions field-wide' }, submit, status),
  );
}

export function uploadVersionForm(app: App, onUploaded: () => void): HTMLElement {
  const files = input({ name: 'files', type: 'file', multiple: true, required: true });
  const platform = select(
    [
      ['any', 'Any (Node and browsers)'],
      ['node', 'Node only'],
      ['browser', 'Browsers only'],
    ],
    { name: 'platform' },
  );
  const entry = input({ name: 'entry', placeholder: 'main.js, else main.mjs, else main.wasm, else main.py' });
  const requirements = input({ name: 'requirements', placeholder: '{"wasm":true,"minMemoryMb":256}', class: 'mono' });
  const chosen = h('div', { class: 'muted small' });
  files.addEventListener('change', () => {
    const list = [...(files.files ?? [])];
    mount(chosen, list.length ? `${list.length} file${list.length === 1 ? '' : 's'}, ${bytes(list.reduce((n, f) => n + f.size, 0))}: ${list.map((f) => f.name).join(', ')}` : '');
  });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Upload version');
  return h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        const list = [...(files.files ?? [])];
        if (list.length === 0) return mount(status, errorBox('Choose the files of the app version.', 'No files'));
        if (requirements.value.trim()) {
          try {
            if (!isRecord(JSON.parse(requirements.value))) throw new Error('not an object');
          } catch {
            return mount(status, errorBox('Requirements must be a JSON object, e.g. {"wasm":true}.', 'Check the requirements'));
          }
        }
        const form = new FormData();
        for (const f of list) form.append('files', f, f.name);
        form.append('platform', platform.value);
        if (entry.value.trim()) form.append('entry', entry.value.trim());
        if (requirements.value.trim()) form.append('requirements', requirements.value.trim());
        mount(status);
        progress.hidden = false;
        void busy(submit, 'Uploading…', async () => {
          const res = await upload<AppVersion>(`/apps/${app.id}/versions`, form, null, (sent, total) => (progress.value = total ? sent / total : 0), hasNumber('id')).done;
          progress.hidden = true;
          if (!res.ok) return mount(status, errorBox(res.error, 'The upload was refused'));
          toast(`${app.name} version ${res.value.version} uploaded: ${describeKind(res.value.kind)}, entry ${res.value.entry}`, 'success');
          onUploaded();
        });
      },
    },
    field('Files', files, {
      hint: 'Every file of the bundle. The entry is a JavaScript module that exports run(input, ctx), or a WASI program (.wasm) that reads stdin and writes stdout; the upload says which it found.',
      wide: true,
    }),
    h('div', { class: 'field-wide' }, chosen),
    field('Platform', platform),
    field('Entry file (optional)', entry),
    field('Requirements (JSON, optional)', requirements, { wide: true }),
    h('div', { class: 'form-actions field-wide' }, submit, progress, status),
  );
}

