// The researcher's side, through the real REST API (docs/api.md) as a script would use it: log
// in as the admin, make an API token, create a project, an app and a version, submit batches
// as streamed NDJSON, and follow them over the /admin Socket.IO namespace.
import { io } from 'socket.io-client';
import { GridApi, readAnswer } from '../cli/api-client.js';
import {
  AppSchema,
  AppVersionSchema,
  BatchStatusSchema,
  CreatedTokenSchema,
  ProjectSchema,
  SessionSchema,
  SubmittedSchema,
  WatchAckSchema,
  WorkunitDetailSchema,
  WorkunitPageSchema,
  type BatchStatus,
  type Replication,
  type WorkunitDetail,
  type WorkunitPage,
} from '../protocol/api.js';

export interface AppFile {
  name: string;
  content: string | Uint8Array;
}

export interface Submission {
  batchId: number;
  workunits: number;
  /** When the request started and when its answer came (epoch ms). */
  startedAt: number;
  answeredAt: number;
}

export class ResearchClient {
  private constructor(
    readonly url: string,
    readonly token: string,
    private readonly api: GridApi,
  ) {}

  /** Logs in with a password, makes an API token, and ends the session (as `grid login` does). */
  static async login(url: string, name: string, password: string): Promise<ResearchClient> {
    const answer = await new GridApi(url).send('POST', '/session', { json: { name, password } });
    const session = await readAnswer(answer, SessionSchema, 'POST /session');
    const cookie = answer.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('vg_session='));
    if (!cookie) throw new Error('the coordinator logged in but set no session cookie');
    const withSession = new GridApi(url, { cookie, csrfToken: session.csrfToken ?? '' });
    const created = await withSession.call('POST', '/tokens', CreatedTokenSchema, { json: { name: 'bench' } });
    await withSession.call('DELETE', '/session', null);
    return new ResearchClient(url, created.token, new GridApi(url, { token: created.token }));
  }

  /** A project with one app and one version made of these files; returns the app id. */
  async createApp(projectName: string, files: AppFile[]): Promise<number> {
    const project = await this.api.call('POST', '/projects', ProjectSchema, { json: { name: projectName } });
    const app = await this.api.call('POST', `/projects/${project.id}/apps`, AppSchema, { json: { name: projectName } });
    const form = new FormData();
    form.append('platform', 'any');
    for (const f of files) form.append('files', new Blob([typeof f.content === 'string' ? f.content : new Uint8Array(f.content)]), f.name);
    await this.api.call('POST', `/apps/${app.id}/versions`, AppVersionSchema, { body: form });
    return app.id;
  }

  /** Streams `count` NDJSON lines (made lazily) as one batch; answers once the batch is committed. */
  async submit(appId: number, name: string, count: number, line: (i: number) => string, replication: Partial<Replication>): Promise<Submission> {
    const startedAt = Date.now();
    const answer = await this.api.send('POST', `/apps/${appId}/batches`, {
      query: { name, clientKey: name, ...replication },
      body: ndjsonStream(count, line),
      // Connection: close, as the CLI does for streamed bodies.
      headers: { 'content-type': 'application/x-ndjson', connection: 'close' },
    });
    const submitted = await readAnswer(answer, SubmittedSchema, 'POST batches');
    return { batchId: submitted.batchId, workunits: submitted.workunits, startedAt, answeredAt: Date.now() };
  }

  status(batchId: number): Promise<BatchStatus> {
    return this.api.call('GET', `/batches/${batchId}`, BatchStatusSchema);
  }

  /** Waits until the replicas of a batch all exist (they are made after the submission is acknowledged). */
  async waitReplicas(batchId: number, expected: number, timeoutMs: number, pollMs = 200): Promise<number> {
    const started = Date.now();
    for (;;) {
      const r = (await this.status(batchId)).replicas;
      const made = r.unsent + r.inProgress + r.success + r.clientError + r.noReply + r.aborted + r.abandoned + r.notNeeded;
      if (made >= expected) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`batch ${batchId}: ${made} of ${expected} replicas after ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async cancel(batchId: number): Promise<void> {
    await this.api.send('POST', `/batches/${batchId}/cancel`).then((r) => r.body?.cancel());
  }

  /** Every work unit id of a batch, page by page. */
  async workunitIds(batchId: number): Promise<number[]> {
    const ids: number[] = [];
    // `after` is a position in the batch (seq), not an id: the first page goes without it.
    let after: number | undefined;
    for (;;) {
      const page: WorkunitPage = await this.api.call('GET', `/batches/${batchId}/workunits`, WorkunitPageSchema, { query: { after, limit: 1000 } });
      ids.push(...page.workunits.map((w) => w.id));
      if (page.next === null) return ids;
      after = page.next;
    }
  }

  /** The id of the work unit at position `seq` of a batch. */
  async workunitAt(batchId: number, seq: number): Promise<number> {
    const page: WorkunitPage = await this.api.call('GET', `/batches/${batchId}/workunits`, WorkunitPageSchema, { query: { after: seq - 1, limit: 1 } });
    const wu = page.workunits[0];
    if (!wu) throw new Error(`batch ${batchId} has no work unit at position ${seq}`);
    return wu.id;
  }

  /**
   * Waits until one work unit has this many replicas. Replicas are made in work-unit order, so
   * for a batch's last work unit that means the batch has them all: a cheap question, where
   * the status of a huge batch costs the coordinator a long query.
   */
  async waitWorkunitReplicas(workunitId: number, replicas: number, timeoutMs: number, pollMs = 500): Promise<number> {
    const started = Date.now();
    while ((await this.workunit(workunitId)).replicas.length < replicas) {
      if (Date.now() - started > timeoutMs) throw new Error(`work unit ${workunitId} had fewer than ${replicas} replicas after ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return Date.now() - started;
  }

  workunit(id: number): Promise<WorkunitDetail> {
    return this.api.call('GET', `/workunits/${id}`, WorkunitDetailSchema);
  }

  /**
   * Follows a batch over /admin until it is done (or cancelled): pushed, not polled, so the
   * benchmark adds no load of its own. The status says when the last work unit finished.
   */
  waitDone(batchId: number, timeoutMs: number, onStatus?: (s: BatchStatus) => void): Promise<BatchStatus> {
    const socket = io(`${this.url}/admin`, { transports: ['websocket'], auth: { token: this.token }, reconnection: false, forceNew: true });
    return new Promise<BatchStatus>((resolve, reject) => {
      let last: BatchStatus | undefined;
      const finish = (e: Error | undefined, s?: BatchStatus) => {
        clearTimeout(timer);
        socket.disconnect();
        if (e) reject(e);
        else resolve(s!);
      };
      const timer = setTimeout(() => {
        const where = last ? `${last.workunits.done + last.workunits.failed} of ${last.workunits.total} work units finished` : 'no status received';
        finish(new Error(`batch ${batchId} not done within ${Math.round(timeoutMs / 1000)} s (${where})`));
      }, timeoutMs);
      const seen = (s: BatchStatus) => {
        last = s;
        onStatus?.(s);
        if (s.status !== 'active') finish(undefined, s);
      };
      socket.on('connect_error', (e) => finish(new Error(`/admin: ${e.message}`)));
      socket.on('batch.status', (raw: unknown) => {
        const parsed = BatchStatusSchema.safeParse(raw);
        if (parsed.success) seen(parsed.data);
      });
      socket.on('connect', () => {
        socket
          .timeout(30_000)
          .emitWithAck('batch.watch', { batchId })
          .then((raw: unknown) => {
            const ack = WatchAckSchema.parse(raw);
            if (!ack.ok) finish(new Error(`batch.watch: ${ack.error.code}: ${ack.error.message}`));
            else seen(ack.status);
          })
          .catch((e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
      });
    });
  }
}

/** NDJSON lines as a stream, made a thousand at a time, so a million lines never sit in memory. */
function ndjsonStream(count: number, line: (i: number) => string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= count) return controller.close();
      let chunk = '';
      for (let k = 0; k < 1000 && i < count; k++, i++) chunk += `${line(i)}\n`;
      controller.enqueue(encoder.encode(chunk));
    },
  });
}
