// Takes result reports from a host: checks each against the assignment the coordinator made
// and the host's signature, records it, and runs the transitioner on the work units touched.
// Idempotent: the same result reported twice is a duplicate, never a second result.
import { canonicalJson } from '../../protocol/canonical.js';
import { utf8 } from '../../protocol/bytes.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { ResultAck, ResultRejection, UnsignedResult } from '../../protocol/messages.js';
import { resultBody } from '../../protocol/signing.js';
import type { OutputFiles } from '../files/output-files.js';
import type { OutputUploads } from '../files/output-uploads.js';
import type { HostRecord } from '../store/identities.js';
import type { ReplicaForResult, ResultRecord, TaskReplica } from '../store/work-store.js';
import type { Tx } from '../store/store.js';
import type { QuotaKeeper } from './host-quota.js';
import { workunitTakesResults } from './model.js';
import { workunitRef } from './task-ids.js';
import { brokenReason } from './version-health.js';
import type { Outbox } from './outbox.js';
import type { SignatureVerdicts } from './result-signatures.js';
import type { Transitioner } from './transitioner.js';

/** A result as reported: with its own signature (protocol 2), or without (protocol 3: its report's list signs it). */
export type ReportedResult = UnsignedResult & { signature?: string };

/** A result that passed its checks, with what recording it needs and what follows. */
interface Accepted {
  result: UnsignedResult;
  record: ResultRecord;
  replica: ReplicaForResult;
  versionSucceeded: boolean;
}

export class ResultIntake {
  constructor(
    private readonly transitioner: Transitioner,
    private readonly outputs: OutputFiles,
    private readonly uploads: OutputUploads,
    private readonly quotas: QuotaKeeper,
  ) {}

  /**
   * Call inside a transaction; the acks are true once it commits. The signatures were checked
   * before it began (result-signatures.ts): `signatures` holds their verdicts. Results signed on
   * their own (protocol 2) carry their signature; a report signed as a list (protocol 3) keeps its
   * list, once, when it records any of them.
   */
  async report(tx: Tx, host: HostRecord, results: readonly ReportedResult[], signatures: SignatureVerdicts, now: number, outbox: Outbox): Promise<ResultAck[]> {
    const { signed, list } = signatures;
    if (signed.length !== results.length) throw new Error(`${signed.length} signature verdicts for ${results.length} results`);
    const tasks = await tx.work.replicasForResults(host.id, results.map((r) => r.taskId));
    // Checked one by one, recorded together (one statement on PostgreSQL), then what follows each.
    const checked: (ResultAck | Accepted)[] = [];
    const recording = new Map<number, Accepted>();
    for (const [i, r] of results.entries()) checked.push(await this.check(tx, host, r, signed[i]!, tasks.get(r.taskId), now, recording));
    if (list && recording.size > 0) {
      const resultListId = await tx.work.recordResultList({ hostId: host.id, receivedAt: now, signature: list.signature, resultHashes: list.resultHashes });
      for (const a of recording.values()) a.record.resultListId = resultListId;
    }
    const recorded = await tx.work.recordResults([...recording.values()].map((a) => a.record));
    const touched = new Set<number>();
    const acks: ResultAck[] = [];
    for (const c of checked) acks.push('record' in c ? await this.recorded(tx, host, c, recorded.has(c.record.replicaId), now, touched) : c);
    await this.transitioner.transitionAll(tx, touched, now, outbox);
    return acks;
  }

  /** A result checked against its task: rejected, a duplicate, or to be recorded. */
  private async check(tx: Tx, host: HostRecord, r: ReportedResult, signed: boolean, task: TaskReplica | undefined, now: number, recording: Map<number, Accepted>): Promise<ResultAck | Accepted> {
    const reject = (code: ResultRejection, message: string): ResultAck => ({ taskId: r.taskId, status: 'rejected', error: { code, message } });
    const body = resultBody(r);
    if (r.hostKey !== host.publicKey) return reject('not_assigned', `result names host ${r.hostKey.slice(0, 16)}…, not this host`);
    if (!signed) {
      // Protocol 3: the report's one signature, over its list of results.
      if (r.signature === undefined) return reject('bad_signature', 'the report’s signature does not verify with this host’s key, or its list does not name this result at its place');
      return reject('bad_signature', 'the result signature does not verify with this host’s key');
    }
    // The host names its task by the task id it was sent, and repeats the task's `workunitId`.
    // Read with the report's other tasks before any was taken.
    const { ids, replica, versionSucceeded } = task ?? {};
    if (!ids || !replica || workunitRef(ids) !== r.workunitId) {
      return reject('not_assigned', `task ${r.taskId} (workunitId ${r.workunitId}) was not assigned to this host`);
    }
    const resultHash = jsonHash(body);
    // A task named twice in one report: the first is the one recorded.
    const earlier = recording.get(ids.replicaId)?.record.resultHash ?? replica.resultHash;
    if (earlier !== null) {
      return earlier === resultHash ? { taskId: r.taskId, status: 'duplicate' } : reject('conflict', `task ${r.taskId} already has a different result`);
    }
    if (replica.outcome === 'aborted' || replica.outcome === 'abandoned' || replica.outcome === 'not_needed') {
      return reject('aborted', `task ${r.taskId} was ${replica.outcome === 'abandoned' ? 'given back' : 'aborted'}`);
    }
    if (!workunitTakesResults(replica.kind, replica.workunitStatus)) {
      return reject('workunit_finished', `the work unit of task ${r.taskId} is ${replica.workunitStatus}; the result is no longer needed`);
    }
    // In progress, or past its deadline ("no reply") while the work unit is open: accepted.

    let outputJson: string | null = null;
    if (r.outcome === 'success') {
      const problem = await this.checkOutput(tx, r, ids.replicaId, (json) => (outputJson = json));
      if (problem) return reject('bad_output', problem);
    }
    const accepted: Accepted = {
      result: r,
      record: {
        replicaId: ids.replicaId,
        outcome: r.outcome === 'success' ? 'success' : 'client_error',
        receivedAt: now,
        resultHash,
        signature: r.signature ?? null,
        outputJson,
        outputHash: r.outputHash ?? null,
        errorJson: r.error ? JSON.stringify(r.error) : null,
        logJson: r.log ? JSON.stringify({ lines: r.log, omitted: r.logOmitted ?? 0 }) : null,
        cpuTimeMs: r.cpuTimeMs,
        elapsedMs: r.elapsedMs,
      },
      replica,
      versionSucceeded: versionSucceeded === true,
    };
    recording.set(ids.replicaId, accepted);
    return accepted;
  }

  /** What follows a result's record: its ack, and what it tells of its host and app version. */
  private async recorded(tx: Tx, host: HostRecord, a: Accepted, recorded: boolean, now: number, touched: Set<number>): Promise<ResultAck> {
    const { result: r, record, replica, versionSucceeded } = a;
    if (!recorded) {
      // Another instance recorded a result for this task after we read it: the same, or another.
      const stored = await tx.work.replicaForResult(record.replicaId);
      return stored?.resultHash === record.resultHash
        ? { taskId: r.taskId, status: 'duplicate' }
        : { taskId: r.taskId, status: 'rejected', error: { code: 'conflict', message: `task ${r.taskId} already has a different result` } };
    }
    if (r.outcome === 'error') {
      await tx.identities.recordError(host.id);
      await this.quotas.error(tx, host.id, replica.appId);
    }
    if (!(r.outcome === 'success' && versionSucceeded)) await this.judgeVersion(tx, replica.appVersionId, r, now);
    touched.add(replica.workunitId);
    return { taskId: r.taskId, status: 'accepted' };
  }

  /**
   * A version that has produced a result works; one that keeps failing to load on proven hosts is
   * broken, and no task is sent with it any more (the scheduler skips it).
   */
  private async judgeVersion(tx: Tx, versionId: number | null, r: UnsignedResult, now: number): Promise<void> {
    if (versionId === null) return;
    const { catalog } = tx;
    if (r.outcome === 'success') return await catalog.markVersionSucceeded(versionId);
    if (r.error?.code !== 'app_load_failed') return;
    const reason = brokenReason(await catalog.versionFailures(versionId));
    if (reason) await catalog.markVersionBroken(versionId, reason, now);
  }

  /** The output must be what outputHash names: inline, or uploaded as canonical JSON for this task before the report. */
  private async checkOutput(tx: Tx, r: UnsignedResult, replicaId: number, keep: (json: string) => void): Promise<string | undefined> {
    if (r.output === undefined) {
      // Its own task's upload, not a file another task (or a researcher) stored.
      if (!(await this.uploads.uploadedFor(tx, replicaId, r.outputHash!))) {
        return `output ${r.outputHash} is neither inline nor uploaded for task ${r.taskId} (PUT /files/${r.outputHash} with X-VG-Task-Id: ${r.taskId} first)`;
      }
      const status = await this.outputs.status(tx, r.outputHash!);
      if (status === 'missing') return `output ${r.outputHash} is neither inline nor uploaded (PUT /files/${r.outputHash} first)`;
      if (status === 'not_canonical') return `file ${r.outputHash} is not canonical JSON, so it cannot be an output (upload the canonical JSON of the output)`;
      return undefined;
    }
    let json: string;
    try {
      json = canonicalJson(r.output);
    } catch (e) {
      return (e as Error).message;
    }
    const bytes = utf8(json);
    if (bytes.length > MAX_INLINE_JSON_BYTES) return `inline output exceeds ${MAX_INLINE_JSON_BYTES} bytes; upload it as a file`;
    if (sha256Hex(bytes) !== r.outputHash) return 'outputHash is not the SHA-256 of the output’s canonical JSON';
    keep(json);
    return undefined;
  }
}
