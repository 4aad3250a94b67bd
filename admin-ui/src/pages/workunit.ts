// One work unit: its input and parameters, and every replica with its kind (regular, sentinel,
// check), the app version it was sent with, its host, outcome, output and what the app logged.
import { get, hasNumber } from '../api';
import type { BatchStatus, ReplicaDetail, WorkunitDetail } from '../../../protocol/api';
import { h, mount } from '../dom';
import { credit, duration, int, prettyJson } from '../format';
import { card, pageHeader, type Page, type PageContext } from '../page';
import { badge } from '../ui/badges';
import { breakable, hashCell, timeCell } from '../ui/cells';
import { errorBox, loading } from '../ui/states';
import { table } from '../ui/table';

const isDetail = (v: unknown): v is WorkunitDetail => hasNumber<WorkunitDetail>('id')(v) && Array.isArray(v.replicas);

const PARAMS: [keyof WorkunitDetail, string, (v: number) => string][] = [
  ['minQuorum', 'Quorum', int],
  ['targetNresults', 'Initial replicas', int],
  ['maxErrorResults', 'Max error results', int],
  ['maxTotalResults', 'Max total results', int],
  ['maxSuccessResults', 'Max success results', int],
  ['delayBoundMs', 'Deadline', duration],
  ['fpopsEst', 'Estimated operations', (v) => v.toExponential(2)],
  ['priority', 'Priority', int],
];

function hostLabel(r: ReplicaDetail): string {
  const host = r.hostName ?? (r.hostId === null ? null : `host ${r.hostId}`);
  if (!host) return '—';
  return r.userName && r.userName !== host ? `${host} (${r.userName})` : host;
}

const KIND_HINTS: Record<ReplicaDetail['kind'], string> = {
  regular: 'a replica of the work unit, as its replication asks for',
  sentinel: 'the work unit is a sentinel: its answer is known, and each result is judged against it',
  check: 'sent after the work unit was done, to test a volunteer against its result',
};

function kindBadge(r: ReplicaDetail): HTMLElement {
  const el = badge(r.kind, r.kind === 'regular' ? 'grey' : 'violet');
  el.title = KIND_HINTS[r.kind] ?? r.kind;
  return el;
}

/** What the app logged in the run that produced the result: open at once when the run failed. */
function appLog(r: ReplicaDetail): HTMLElement | null {
  if (!r.log || r.log.lines.length === 0) return null;
  const { lines, omitted } = r.log;
  const count = `${int(lines.length)} line${lines.length === 1 ? '' : 's'}`;
  return h(
    'details',
    { class: 'app-log', open: r.error !== null },
    h('summary', null, `App log (${omitted > 0 ? `the last ${count}; ${int(omitted)} before them not kept` : count})`),
    h(
      'pre',
      { class: 'json log', 'aria-label': `App log of replica ${r.id}` },
      lines.map((l) => h('div', { class: `log-${l.level}` }, l.level === 'info' ? l.text : `${l.level}: ${l.text}`)),
    ),
  );
}

function replicaOutput(workunitId: number, r: ReplicaDetail, canonical: boolean): HTMLElement {
  const body = r.error
    ? h('div', { class: 'alert alert-error' }, h('strong', null, r.error.code), h('span', { class: 'wrap' }, r.error.message))
    : r.output !== null && r.output !== undefined
      ? h('pre', { class: 'json' }, prettyJson(r.output))
      : r.outputHash
        ? h(
            'p',
            { class: 'muted' },
            'The output is stored as a file (too large to show inline): ',
            h('a', { href: `/api/v1/workunits/${workunitId}/replicas/${r.id}/output`, download: `replica-${r.id}-output.json` }, 'download it'),
            '.',
          )
        : h('p', { class: 'muted' }, 'No output yet.');
  return h(
    'article',
    { class: canonical ? 'output-card canonical' : 'output-card', 'aria-label': `Replica ${r.id}` },
    h(
      'header',
      null,
      h('strong', null, `Replica ${r.id}`),
      h('span', { class: 'muted' }, hostLabel(r)),
      r.appVersion === null ? null : h('span', { class: 'muted' }, `v${r.appVersion}`),
      r.kind === 'regular' ? null : kindBadge(r),
      r.validateState ? badge(r.validateState) : null,
      canonical ? badge('canonical', 'green') : null,
    ),
    body,
    appLog(r),
  );
}

export function workunitPage(ctx: PageContext): Page {
  const id = Number(ctx.params.id);
  const root = h('div', null, loading('Loading the work unit…'));
  void get<WorkunitDetail>(`/workunits/${id}`, isDetail).then((res) => {
    if (!res.ok) return mount(root, pageHeader('Work unit', { crumbs: [{ label: 'Projects', href: '#/projects' }] }), errorBox(res.error, res.error.status === 404 ? 'No such work unit' : 'Could not load the work unit'));
    const w = res.value;
    document.title = `Work unit #${w.seq} · volunteer-grid`;
    const params = PARAMS.filter(([k]) => typeof w[k] === 'number').map(([k, label, fmt]) => [h('dt', null, label), h('dd', { class: 'num' }, fmt(w[k] as number))]);
    const withOutput = w.replicas.filter((r) => r.error || r.outputHash);
    const crumbs = h('div');
    const header = (b: BatchStatus | null) =>
      pageHeader(`Work unit #${w.seq}`, {
        crumbs: [
          { label: 'Projects', href: '#/projects' },
          ...(b ? [{ label: b.projectName, href: `#/projects/${b.projectId}` }] : []),
          { label: b?.name ?? `Batch ${w.batchId}`, href: `#/batches/${w.batchId}` },
        ],
        badge: badge(w.status),
        subtitle: [`Id ${w.id}`, w.errorReason ? [' · ', h('span', { class: 'text-red' }, w.errorReason)] : null],
      });
    mount(crumbs, header(null));
    // The batch's and project's names for the breadcrumb.
    void get<BatchStatus>(`/batches/${w.batchId}`, hasNumber('id')).then((b) => b.ok && mount(crumbs, header(b.value)));
    mount(
      root,
      crumbs,
      h(
        'div',
        { class: 'grid-2' },
        card('Input', h('pre', { class: 'json' }, prettyJson(w.input))),
        card('Parameters', h('dl', { class: 'props' }, params, h('dt', null, 'Canonical replica'), h('dd', null, w.canonicalReplicaId === null ? '—' : `Replica ${w.canonicalReplicaId}`))),
      ),
      card(
        'Replicas',
        table(
          [
            { label: 'Replica', render: (r) => h('span', { class: 'num' }, int(r.id)) },
            { label: 'Kind', render: (r) => kindBadge(r) },
            { label: 'Version', render: (r) => (r.appVersion === null ? h('span', { class: 'muted' }, 'not sent') : `v${r.appVersion}`) },
            { label: 'Host', render: (r) => h('span', null, breakable(hostLabel(r))) },
            // A replica that is over has an outcome; until then its status says where it is.
            { label: 'State', render: (r) => badge(r.outcome ?? r.status) },
            { label: 'Validation', render: (r) => (r.validateState ? badge(r.validateState) : '—') },
            { label: 'Sent, received', align: 'num', render: (r) => h('div', null, timeCell(r.sentAt), h('div', { class: 'muted small' }, timeCell(r.receivedAt))) },
            { label: 'CPU time', align: 'num', render: (r) => (r.cpuTimeMs === null ? '—' : duration(r.cpuTimeMs)) },
            { label: 'Credit', align: 'num', render: (r) => (r.credit === null ? '—' : credit(r.credit)) },
            { label: 'Output hash', render: (r) => hashCell(r.outputHash, 10) },
          ],
          w.replicas,
          { empty: 'No replica created yet.', rowClass: (r) => (r.id === w.canonicalReplicaId ? 'row-canonical' : null) },
        ),
        { className: 'card-flush' },
      ),
      withOutput.length ? card('Outputs and errors', h('div', { class: 'outputs' }, withOutput.map((r) => replicaOutput(w.id, r, r.id === w.canonicalReplicaId)))) : null,
    );
  });
  return { title: 'Work unit', el: root };
}
