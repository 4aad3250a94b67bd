// A project's batches, newest first, with their progress; archived ones (when shown) marked.
import type { BatchStatus } from '../../../../protocol/api';
import { h } from '../../dom';
import { int, percent } from '../../format';
import { navigate } from '../../router';
import { badge } from '../../ui/badges';
import { timeCell } from '../../ui/cells';
import { batchFraction, stackedMini } from '../../ui/progress';
import { table } from '../../ui/table';

export function batchesTable(batches: BatchStatus[], showApp = true, empty = 'No batches yet. Submit one to put volunteers to work.'): HTMLElement {
  const sorted = [...batches].sort((a, b) => b.createdAt - a.createdAt);
  return table(
    [
      { label: 'Batch', render: (b) => h('a', { href: `#/batches/${b.id}`, class: 'strong' }, b.name || `batch ${b.id}`) },
      ...(showApp ? [{ label: 'App', render: (b: BatchStatus) => b.appName }] : []),
      { label: 'Status', render: (b) => [badge(b.status), b.archived ? [' ', badge('archived', 'grey')] : null] },
      { label: 'Progress', render: (b) => stackedMini(b.workunits) },
      { label: 'Work units', align: 'num', render: (b) => int(b.workunits.total) },
      { label: 'Done', align: 'num', render: (b) => int(b.workunits.done) },
      { label: '%', align: 'num', render: (b) => percent(Math.floor(batchFraction(b.status, b.workunits) * 1000) / 1000) },
      { label: 'Failed', align: 'num', render: (b) => int(b.workunits.failed) },
      { label: 'Created', align: 'num', render: (b) => timeCell(b.createdAt) },
    ],
    sorted,
    { onRowClick: (b) => navigate(`#/batches/${b.id}`), empty, rowClass: (b) => (b.archived ? 'row-muted' : null) },
  );
}

