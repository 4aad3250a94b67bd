// Why a result was or was not accepted: per work unit, its successful replicas grouped by
// output (so disagreeing outputs sit side by side) and its errors; per host, its rates.
import type { OutputGroup, ValidationView, ValidationWorkunit } from '../../protocol/api.js';
import type { ReportStore } from '../store/report-store.js';

export async function validationView(reports: ReportStore, batchId: number, opts: { all: boolean; afterSeq: number; limit: number }): Promise<ValidationView> {
  const ids = await reports.validationWorkunits(batchId, opts.all, opts.afterSeq, opts.limit);
  const workunits: ValidationWorkunit[] = [];
  for (const id of ids) {
    const wu = (await reports.workunit(id))!;
    const groups = new Map<string, OutputGroup>();
    const errors: ValidationWorkunit['errors'] = [];
    for (const r of await reports.replicas(id)) {
      if (r.outcome === 'client_error') {
        errors.push({ replicaId: r.id, hostId: r.hostId, hostName: r.hostName, code: r.error?.code ?? 'unknown', message: r.error?.message ?? '' });
      }
      if (r.outcome !== 'success' || r.outputHash === null) continue;
      const group = groups.get(r.outputHash) ?? { outputHash: r.outputHash, canonical: false, output: null, replicas: [] };
      group.replicas.push({ replicaId: r.id, hostId: r.hostId, hostName: r.hostName, validateState: r.validateState });
      if (r.id === wu.canonicalReplicaId) group.canonical = true;
      if (group.output === null && r.output !== null) group.output = r.output;
      groups.set(r.outputHash, group);
    }
    workunits.push({
      id,
      seq: wu.seq,
      status: wu.status,
      minQuorum: wu.minQuorum,
      errorReason: wu.errorReason,
      // The canonical group first, then the larger groups.
      groups: [...groups.values()].sort((a, b) => Number(b.canonical) - Number(a.canonical) || b.replicas.length - a.replicas.length),
      errors,
    });
  }
  const hosts = (await reports.hostStats(batchId)).map((h) => ({
    ...h,
    invalidRate: h.valid + h.invalid > 0 ? h.invalid / (h.valid + h.invalid) : 0,
    errorRate: h.results > 0 ? h.errors / h.results : 0,
  }));
  const last = workunits[workunits.length - 1];
  return { workunits, next: workunits.length === opts.limit && last ? last.seq : null, hosts };
}
