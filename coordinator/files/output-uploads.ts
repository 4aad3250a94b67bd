// Uploads of large outputs (PUT /files/:hash): only by a host, for a task of its own that may
// still report a result, once per task (the same file again is a retry), within
// --max-output-bytes. Who uploads, and for which task, is checked from the headers before a byte
// of the body is read, and again once it is in: the task may have ended meanwhile.
import type { Repositories, Store } from '../store/store.js';
import { workunitTakesResults } from '../work/model.js';
import type { OutputFiles } from './output-files.js';

export interface UploadRefusal {
  code: 'forbidden' | 'conflict' | 'bad_request' | 'too_large';
  message: string;
}

export class OutputUploads {
  constructor(
    private readonly store: Store,
    private readonly outputs: OutputFiles,
    /** The most bytes one task's output may have (--max-output-bytes). */
    readonly maxBytes: number,
  ) {}

  /** Why this host may not upload `sha256` as the output of task `taskId` (the id it was sent), if it may not. */
  async refusal(db: Repositories, hostId: number, taskId: number, sha256: string): Promise<UploadRefusal | undefined> {
    const refused = await this.check(db, hostId, taskId, sha256);
    return 'code' in refused ? refused : undefined;
  }

  /** The task's replica if this host may upload `sha256` as its output, else why not. */
  private async check(db: Repositories, hostId: number, taskId: number, sha256: string): Promise<{ replicaId: number } | UploadRefusal> {
    const ids = await db.work.replicaOfTask(hostId, taskId);
    const r = ids && (await db.work.replicaForResult(ids.replicaId));
    if (!r) return { code: 'forbidden', message: `task ${taskId} was not assigned to this host` };
    const replica = { replicaId: r.id };
    if (r.resultHash !== null) {
      // A retry after the report went through (its answer lost): the file it names, and no other.
      if (r.outputHash === sha256) return replica;
      return { code: 'conflict', message: `task ${taskId} already has its result, which names another output` };
    }
    if (r.outcome === 'aborted' || r.outcome === 'abandoned' || r.outcome === 'not_needed' || !workunitTakesResults(r.kind, r.workunitStatus)) {
      return { code: 'forbidden', message: `task ${taskId} takes no result any more (aborted, given back, or its work unit is finished)` };
    }
    const previous = await db.uploads.uploadOf(r.id);
    if (previous && previous.sha256 !== sha256) {
      return { code: 'conflict', message: `task ${taskId} already uploaded its output (${previous.sha256}); a task has one output` };
    }
    return replica;
  }

  /** Receives the body and keeps it as the task's output, or says why not. */
  async upload(hostId: number, taskId: number, sha256: string, body: AsyncIterable<Uint8Array>, now: () => number): Promise<{ size: number } | UploadRefusal> {
    const received = await this.outputs.receive(body, sha256, this.maxBytes);
    if ('code' in received) return received;
    // Checked again, and kept, in one transaction: the task may have ended while the body came.
    let refused: UploadRefusal | undefined;
    try {
      refused = await this.store.transaction(async (tx) => {
        const allowed = await this.check(tx, hostId, taskId, sha256);
        if ('code' in allowed) return allowed;
        await this.outputs.keep(tx, received, sha256, now());
        await tx.uploads.record(allowed.replicaId, sha256, received.size, now());
        return undefined;
      });
    } finally {
      this.outputs.drop(received); // nothing left of it once kept
    }
    return refused ?? { size: received.size };
  }

  /** Whether `sha256` is the output a replica's task uploaded (what a result may name as its file output). */
  async uploadedFor(db: Repositories, replicaId: number, sha256: string): Promise<boolean> {
    return (await db.uploads.uploadOf(replicaId))?.sha256 === sha256;
  }
}
