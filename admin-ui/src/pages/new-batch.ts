// Submitting a batch: one app (the newest version, or one pinned), replication parameters, and
// the inputs as NDJSON (a file or pasted), streamed to the coordinator with upload progress.
// Lines are bare inputs, or whole work units — which is how sentinels (work units with a
// known answer, `expectedOutput`) are marked.
import { get, hasNumber, upload, type Upload } from '../api';
import { DEFAULT_REPLICATION } from '../../../protocol/replication-defaults';
import type { App, ProjectDetail, Replication, Submitted } from '../../../protocol/api';
import { h, mount, uid } from '../dom';
import { bytes, int, percent } from '../format';
import { card, pageHeader, type Page, type PageContext } from '../page';
import { navigate } from '../router';
import { toast } from '../ui/dialog';
import { field, input, numberValue, select } from '../ui/form';
import { apiDocsExcerpt } from '../ui/docs';
import { errorBox, loading, notice } from '../ui/states';

const isDetail = (v: unknown): v is ProjectDetail => hasNumber<ProjectDetail>('id')(v) && Array.isArray(v.apps);

interface NumberSpec {
  key: keyof Replication;
  label: string;
  hint: string;
  /** Shown value = stored value / scale (the deadline is edited in hours). */
  scale?: number;
  min: number;
  step?: string;
}

const MAIN: NumberSpec[] = [
  { key: 'minQuorum', label: 'Quorum', hint: 'Agreeing results from distinct hosts needed.', min: 1 },
  { key: 'targetNresults', label: 'Initial replicas', hint: 'Replicas created at once per work unit.', min: 1 },
];
const MORE: NumberSpec[] = [
  { key: 'maxErrorResults', label: 'Max error results', hint: 'More client errors than this fail the work unit.', min: 0 },
  { key: 'maxTotalResults', label: 'Max total results', hint: 'More replicas than this fail it.', min: 1 },
  { key: 'maxSuccessResults', label: 'Max success results', hint: 'This many successes without agreement fail it.', min: 1 },
  { key: 'delayBoundMs', label: 'Deadline (hours)', hint: 'Time a volunteer has for one task.', scale: 3_600_000, min: 0, step: 'any' },
  { key: 'fpopsEst', label: 'Estimated operations', hint: 'Floating-point operations per work unit; drives credit.', min: 0, step: 'any' },
  { key: 'priority', label: 'Priority', hint: 'Higher is handed out first.', min: -1_000_000 },
];

function numberField(spec: NumberSpec): { el: HTMLElement; read(): number | null; spec: NumberSpec } {
  const scale = spec.scale ?? 1;
  const shown = DEFAULT_REPLICATION[spec.key] / scale;
  const el = input({ type: 'number', name: spec.key, min: spec.min, step: spec.step ?? '1', value: shown >= 1e6 ? shown.toExponential().replace('+', '') : String(shown) });
  return { el: field(spec.label, el, { hint: spec.hint }), read: () => { const v = numberValue(el); return v === null ? null : v * scale; }, spec };
}

/** Non-blank lines of pasted NDJSON, counted cheaply. */
function countLines(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.trim() !== '') n++;
  return n;
}

/** Pasted work-unit lines with an `expectedOutput`; lines that do not parse are the coordinator's to refuse. */
function countSentinels(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('expectedOutput')) continue;
    try {
      const wu: unknown = JSON.parse(line);
      if (typeof wu === 'object' && wu !== null && 'expectedOutput' in wu) n++;
    } catch {
      // counted by no one; the submission says which line is wrong
    }
  }
  return n;
}

const plural = (n: number, one: string) => `${int(n)} ${one}${n === 1 ? '' : 's'}`;

const SENTINEL_EXAMPLE = '{"input":{"from":0,"to":50000}}\n{"input":{"from":50000,"to":100000},"replication":{"minQuorum":3}}\n{"input":{"from":1,"to":100},"expectedOutput":{"count":25}}';

/** What a sentinel is, said where the researcher chooses to give work units. */
function sentinelHelp(): HTMLElement {
  return h(
    'div',
    { class: 'explain' },
    h(
      'p',
      null,
      'Each line is one work unit: ',
      h('code', null, '{"input": …, "expectedOutput": …, "replication": {…}}'),
      ', the last two optional. A work unit with ',
      h('code', null, 'expectedOutput'),
      ' is a ',
      h('strong', null, 'sentinel'),
      ': you know its answer. Volunteers cannot tell it from the rest; one that answers it wrongly is caught without being told, and everything it computed is checked again. Put about one in every hundred work units, drawn like the others; a batch of only sentinels is refused.',
    ),
    apiDocsExcerpt('More about sentinels, from the docs', '**Sentinels.**', 'docs/api.md (Batches, Sentinels)'),
  );
}

/** The app's versions to pin the batch to: the newest (the default) or one that may be sent. */
function versionOptions(app: App | undefined): (readonly [string, string])[] {
  const versions = [...(app?.versions ?? [])].sort((a, b) => b.version - a.version);
  return [
    ['', 'The newest (follows new uploads)'],
    ...versions.filter((v) => v.retiredAt === null && !v.broken).map((v) => [String(v.version), `Version ${v.version} only`] as const),
  ];
}

function batchForm(project: ProjectDetail, preselect: string | null, onUploadStart: (u: Upload<Submitted>) => void): HTMLElement {
  const runnable = project.apps.filter((a) => a.versions.length > 0);
  const app = select(
    runnable.map((a) => [String(a.id), `${a.name} (v${Math.max(...a.versions.map((v) => v.version))})`] as const),
    { name: 'app', required: true },
  );
  if (preselect && runnable.some((a) => String(a.id) === preselect)) app.value = preselect;
  const version = select([], { name: 'appVersion' });
  const showVersions = () => mount(version, versionOptions(runnable.find((a) => String(a.id) === app.value)).map(([value, label]) => h('option', { value }, label)));
  app.addEventListener('change', showVersions);
  showVersions();
  const name = input({ name: 'name', required: true, maxlength: 200, value: `run ${new Date().toISOString().slice(0, 16).replace('T', ' ')}` });
  const clientKey = input({ name: 'clientKey', maxlength: 200, placeholder: 'e.g. sweep-2024-05-01' });
  const mainFields = MAIN.map(numberField);
  const moreFields = MORE.map(numberField);

  const sourceName = uid('source');
  const fromFile = h('input', { type: 'radio', name: sourceName, value: 'file', id: uid('r'), checked: true });
  const fromPaste = h('input', { type: 'radio', name: sourceName, value: 'paste', id: uid('r') });
  const linesName = uid('lines');
  const asInputs = h('input', { type: 'radio', name: linesName, value: 'inputs', id: uid('r'), checked: true });
  const asWorkunits = h('input', { type: 'radio', name: linesName, value: 'workunits', id: uid('r') });
  const file = input({ type: 'file', name: 'inputs', accept: '.ndjson,.jsonl,.json,.txt,application/x-ndjson' });
  const pasted = h('textarea', { name: 'pasted', rows: 10, class: 'mono', spellcheck: 'false' });
  const summary = h('div', { class: 'muted small', 'aria-live': 'polite' });
  const fileHint = h('span');
  const fileField = field('NDJSON file', file, { hint: fileHint, wide: true });
  const pasteField = field('Inputs (NDJSON, one JSON value per line)', pasted, { wide: true });
  const help = sentinelHelp();
  const showSource = () => {
    const workunits = asWorkunits.checked;
    fileField.hidden = !fromFile.checked;
    pasteField.hidden = fromFile.checked;
    help.hidden = !workunits;
    pasteField.querySelector('label')!.textContent = workunits ? 'Work units (NDJSON, one {"input": …} per line)' : 'Inputs (NDJSON, one JSON value per line)';
    fileHint.textContent = `${workunits ? 'One work unit ({"input": …, "expectedOutput"?: …}) per line' : 'One input (any JSON value) per line'}. Large files are streamed.`;
    pasted.placeholder = workunits ? SENTINEL_EXAMPLE : '{"from":0,"to":50000}\n{"from":50000,"to":100000}';
    describeInputs();
  };
  const describeInputs = () => {
    if (fromFile.checked) {
      const f = file.files?.[0];
      mount(summary, f ? `${f.name}, ${bytes(f.size)}` : '');
    } else {
      const n = countLines(pasted.value);
      const sentinels = asWorkunits.checked ? countSentinels(pasted.value) : 0;
      mount(summary, n ? `${plural(n, 'work unit')}${asWorkunits.checked ? `, ${plural(sentinels, 'sentinel')}` : ''}` : '');
    }
  };
  for (const radio of [fromFile, fromPaste, asInputs, asWorkunits]) radio.addEventListener('change', showSource);
  file.addEventListener('change', describeInputs);
  pasted.addEventListener('input', describeInputs);
  showSource();

  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Submit batch');

  const form = h(
    'form',
    {
      class: 'form-grid',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        const params = new URLSearchParams({ name: name.value.trim() });
        if (clientKey.value.trim()) params.set('clientKey', clientKey.value.trim());
        if (version.value) params.set('appVersion', version.value);
        if (asWorkunits.checked) params.set('lines', 'workunits');
        for (const f of [...mainFields, ...moreFields]) {
          const v = f.read();
          if (v === null) continue;
          if (!Number.isFinite(v)) return mount(status, errorBox(`${f.spec.label} must be a number.`, 'Check the replication settings'));
          if (v !== DEFAULT_REPLICATION[f.spec.key]) params.set(f.spec.key, String(f.spec.key === 'delayBoundMs' ? Math.round(v) : v));
        }
        let body: Blob | string;
        if (fromFile.checked) {
          const f = file.files?.[0];
          if (!f) return mount(status, errorBox('Choose an NDJSON file, or paste the inputs instead.', 'No inputs'));
          body = f;
        } else {
          if (countLines(pasted.value) === 0) return mount(status, errorBox('Paste at least one line of JSON.', 'No inputs'));
          body = pasted.value;
        }
        const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress' });
        const label = h('span', { class: 'small muted' }, 'Starting the upload…');
        mount(status, h('div', { class: 'upload-progress' }, bar, label));
        submit.disabled = true;
        const u = upload<Submitted>(
          `/apps/${app.value}/batches?${params}`,
          body,
          'application/x-ndjson',
          (sent, total) => {
            bar.value = total ? sent / total : 0;
            label.textContent = total && sent < total ? `Uploading ${bytes(sent)} of ${bytes(total)} (${percent(sent / total)})` : 'Creating work units…';
          },
          hasNumber('batchId'),
        );
        onUploadStart(u);
        void u.done.then((res) => {
          submit.disabled = false;
          if (!res.ok) {
            return mount(status, errorBox(res.error, res.error.code === 'aborted' ? 'Upload cancelled' : 'The coordinator refused the batch'));
          }
          const b = res.value;
          toast(b.created ? `Batch created with ${int(b.workunits)} work units` : 'A batch with this client key exists already: here it is', 'success');
          for (const w of b.warnings ?? []) toast(w, 'info');
          navigate(`#/batches/${b.batchId}`);
        });
      },
    },
    field('App', app),
    field('Version', version, { hint: 'Pinned, tasks go out with that version only; you can change it later.' }),
    field('Batch name', name),
    field('Client key', clientKey, { hint: 'Optional. The same key again creates nothing.' }),
    h(
      'fieldset',
      { class: 'field-wide fieldset' },
      h('legend', null, 'Replication'),
      h('div', { class: 'form-grid' }, mainFields.map((f) => f.el)),
      h('details', { class: 'more' }, h('summary', null, 'More replication settings'), h('div', { class: 'form-grid' }, moreFields.map((f) => f.el))),
    ),
    h(
      'fieldset',
      { class: 'field-wide fieldset' },
      h('legend', null, 'Inputs'),
      h(
        'div',
        { class: 'segmented', role: 'radiogroup', 'aria-label': 'Where the inputs come from' },
        h('span', null, fromFile, h('label', { for: fromFile.id }, 'Upload a file')),
        h('span', null, fromPaste, h('label', { for: fromPaste.id }, 'Paste NDJSON')),
      ),
      h(
        'div',
        { class: 'segmented', role: 'radiogroup', 'aria-label': 'What each line is' },
        h('span', null, asInputs, h('label', { for: asInputs.id }, 'Each line is an input')),
        h('span', null, asWorkunits, h('label', { for: asWorkunits.id }, 'Each line is a work unit (sentinels)')),
      ),
      help,
      h('div', { class: 'form-grid' }, fileField, pasteField),
      summary,
    ),
    h('div', { class: 'form-actions field-wide' }, submit, h('a', { class: 'btn', href: `#/projects/${project.id}` }, 'Cancel')),
    h('div', { class: 'field-wide' }, status),
  );
  return form;
}

export function newBatchPage(ctx: PageContext): Page {
  const id = Number(ctx.params.id);
  const root = h('div', null, loading());
  let current: Upload<Submitted> | null = null;
  void get<ProjectDetail>(`/projects/${id}`, isDetail).then((res) => {
    const crumbs = [{ label: 'Projects', href: '#/projects' }, ...(res.ok ? [{ label: res.value.name, href: `#/projects/${id}` }] : [])];
    if (!res.ok) return mount(root, pageHeader('New batch', { crumbs }), errorBox(res.error, 'Could not load the project'));
    const p = res.value;
    const runnable = p.apps.some((a) => a.versions.length > 0);
    mount(
      root,
      pageHeader('New batch', { crumbs, subtitle: `A set of work units for one app of ${p.name}: one input each.` }),
      runnable
        ? card(null, batchForm(p, ctx.query.get('app'), (u) => (current = u)))
        : notice('info', 'This project has no app with an uploaded version yet. ', h('a', { href: `#/projects/${id}` }, 'Create an app and upload its files first.')),
    );
  });
  // Leaving the page mid-upload cancels it: the submission is all or nothing anyway.
  return { title: 'New batch', el: root, dispose: () => current?.abort() };
}
