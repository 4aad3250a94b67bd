// Following batches: list, status, wait (live), results (download), cancel, errors.
import { accessSync, constants as fsConstants, rmSync, statSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { syncDir } from '../../common/durable-file.js';
import { BatchErrorsSchema, BatchListSchema, type BatchStatus, BatchStatusSchema, CancelledSchema } from '../../protocol/api.js';
import { defineCommand, flag } from '../command.js';
import type { Context } from '../context.js';
import { describeError, Failure, fsReason } from '../failure.js';
import { formatBytes, formatCount, formatDuration, formatTable, formatTime } from '../format.js';
import { Choice, Decimal, Id, jsonHelp, Switch, Text, WholeNumber } from '../options.js';
import { ProgressBar } from '../progress-bar.js';

const finished = (s: BatchStatus) => s.workunits.done + s.workunits.failed + s.workunits.cancelled;

const getStatus = (ctx: Context, batch: number) => ctx.connect().api.call('GET', `/batches/${batch}`, BatchStatusSchema);

export const batchesList = defineCommand({
  words: ['batches', 'list'],
  summary: 'list batches (yours; an admin sees all)',
  usage: `Usage: volunteer-grid batches list [--project ID] [--app ID] [--archived] [--json]

  --project ID            only this project's batches
  --app ID                only this app's batches
  --archived              archived batches instead (\`volunteer-grid archive\`)
${jsonHelp()}
`,
  flags: { project: flag(), app: flag(), archived: flag(true), json: flag(true) },
  schema: z.strictObject({ project: Id('project').optional(), app: Id('app').optional(), archived: Switch, json: Switch }),
  async run(o, ctx) {
    const query = { projectId: o.project, appId: o.app, archived: o.archived ? 'true' : undefined };
    const { batches } = await ctx.connect().api.call('GET', '/batches', BatchListSchema, { query });
    if (o.json) {
      ctx.print(JSON.stringify({ batches }));
      return 0;
    }
    if (batches.length === 0) {
      ctx.print('no batches');
      return 0;
    }
    ctx.print(
      formatTable(
        ['ID', 'NAME', 'PROJECT', 'APP', 'STATUS', 'DONE', 'FAILED', 'CANCELLED', 'TOTAL', 'CREATED'],
        batches.map((b) => [
          b.id,
          b.name,
          b.projectName ?? String(b.projectId),
          b.appName ?? String(b.appId),
          b.archived ? `${b.status} (archived)` : b.status,
          b.workunits.done,
          b.workunits.failed,
          b.workunits.cancelled,
          b.workunits.total,
          formatTime(b.createdAt),
        ]),
      ),
    );
    return 0;
  },
});

const percent = (part: number, total: number) => (total === 0 ? '100%' : `${Math.floor((part / total) * 100)}%`);

function describeStatus(s: BatchStatus): string[] {
  const w = s.workunits;
  const lines = [
    `batch ${s.id} "${s.name}": ${s.status}${s.archived ? ' (archived)' : ''}`,
    `  app         ${s.appName ?? '?'} (${s.appId}) in project ${s.projectName ?? '?'} (${s.projectId})` +
      (s.appVersion != null ? `, pinned to version ${s.appVersion}` : ''),
    `  work units  ${formatCount(finished(s))} of ${formatCount(w.total)} finished (${percent(finished(s), w.total)}): ` +
      `${formatCount(w.done)} done, ${formatCount(w.failed)} failed, ${formatCount(w.cancelled)} cancelled, ${formatCount(w.active)} active`,
  ];
  // Why it cannot move, where it cannot (older coordinators say nothing of it).
  for (const b of s.blocked ?? []) lines.push(`  blocked     ${b.message}`);
  if (s.replicas) {
    const shown = Object.entries(s.replicas).filter(([, n]) => n > 0);
    lines.push(`  replicas    ${shown.length === 0 ? 'none' : shown.map(([k, n]) => `${formatCount(n)} ${k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)}`).join(', ')}`);
  }
  if (s.status === 'active') {
    const rate = s.throughput ? `${s.throughput.workunitsPerSecond.toFixed(2)} work units/s over the last ${formatDuration(s.throughput.windowMs)}` : 'unknown';
    lines.push(`  throughput  ${rate}`, `  ETA         ${s.etaMs == null ? 'unknown' : formatDuration(s.etaMs)}`);
  }
  lines.push(`  created     ${formatTime(s.createdAt)}${s.finishedAt ? `, finished ${formatTime(s.finishedAt)} (took ${formatDuration(s.finishedAt - s.createdAt)})` : ''}`);
  return lines;
}

export const status = defineCommand({
  words: ['status'],
  summary: 'show the progress of a batch: counts, throughput, ETA',
  usage: `Usage: volunteer-grid status BATCH [--json]

${jsonHelp()}
`,
  positionals: ['batch'],
  flags: { json: flag(true) },
  schema: z.strictObject({ batch: Id('batch'), json: Switch }),
  async run(o, ctx) {
    const s = await getStatus(ctx, o.batch);
    ctx.print(o.json ? JSON.stringify(s) : describeStatus(s).join('\n'));
    return 0;
  },
});

/** Exit 0 for a batch done without failures; a Failure saying what went wrong otherwise. */
function verdict(s: BatchStatus): string {
  const w = s.workunits;
  if (s.status === 'cancelled') {
    throw new Failure(`batch ${s.id} was cancelled: ${formatCount(w.cancelled)} of ${formatCount(w.total)} work units cancelled, ${formatCount(w.done)} done, ${formatCount(w.failed)} failed`);
  }
  if (w.failed > 0) {
    throw new Failure(`batch ${s.id} finished with ${formatCount(w.failed)} failed work unit${w.failed === 1 ? '' : 's'} of ${formatCount(w.total)} (see \`volunteer-grid errors ${s.id}\`)`);
  }
  const took = s.finishedAt ? ` in ${formatDuration(s.finishedAt - s.createdAt)}` : '';
  return `batch ${s.id} done: ${formatCount(w.done)} work units${took}`;
}

export const wait = defineCommand({
  words: ['wait'],
  summary: 'follow a batch live until it ends (exit 1 if cancelled or with failed work units)',
  usage: `Usage: volunteer-grid wait BATCH [--timeout SECONDS] [--json]

Shows a live progress bar, driven by the coordinator's pushes, until the batch ends. Exits 0 when
every work unit is done; 1 when the batch was cancelled, some work units failed, or the timeout
passed first. With several coordinator instances, it follows the batch on another when the one
it is on stops answering.

  --timeout SECONDS       give up after this long (default: wait for ever)
  --json                  print the final batch status as JSON
`,
  positionals: ['batch'],
  flags: { timeout: flag(), json: flag(true) },
  schema: z.strictObject({ batch: Id('batch'), timeout: Decimal({ above: 0 }, ' of seconds').optional(), json: Switch }),
  async run(o, ctx) {
    // One REST call first: a wrong token or batch fails at once, with the API's message.
    let last = await getStatus(ctx, o.batch);
    const { credentials } = ctx.connect();
    // Loaded here: socket.io-client takes a noticeable part of a second to load, and only wait needs it.
    const { otherInstances, watchBatch } = await import('../batch-watch.js');
    // With several coordinator instances, the others to follow the batch on if this one goes away.
    const others = last.status === 'active' ? await otherInstances(credentials.url) : [];
    const bar = new ProgressBar({ label: `batch ${o.batch}`, format: formatCount, total: last.workunits.total, out: ctx.stderr });
    let lost = false;
    let saidBlocked = '';
    const show = (s: BatchStatus) => {
      // Each time why it cannot move changes, say so in full above the bar.
      const blocked = (s.blocked ?? []).map((b) => b.message).join('\n');
      if (blocked !== saidBlocked) {
        saidBlocked = blocked;
        bar.clear();
        ctx.stderr.write(blocked === '' ? `batch ${o.batch} can move again\n` : `batch ${o.batch} cannot move: ${blocked.replaceAll('\n', '; ')}\n`);
      }
      const notes = [
        s.workunits.failed > 0 ? `${formatCount(s.workunits.failed)} failed` : undefined,
        (s.blocked ?? []).length > 0 ? `blocked: ${(s.blocked ?? []).map((b) => b.code.replaceAll('_', ' ')).join(', ')}` : undefined,
        lost ? 'reconnecting…' : undefined,
      ];
      bar.update(finished(s), {
        total: s.workunits.total,
        ...(s.throughput ? { rate: s.throughput.workunitsPerSecond } : {}),
        etaMs: s.etaMs ?? null,
        note: notes.filter(Boolean).join(', ') || undefined,
      });
    };
    const final = await new Promise<BatchStatus>((resolveFinal, reject) => {
      if (last.status !== 'active') return resolveFinal(last);
      show(last);
      const timer =
        o.timeout === undefined
          ? undefined
          : setTimeout(() => {
              watch.close();
              reject(new Failure(`timed out after ${formatDuration(o.timeout! * 1000)}: batch ${o.batch} has ${formatCount(finished(last))} of ${formatCount(last.workunits.total)} work units finished`));
            }, o.timeout * 1000);
      const watch = watchBatch(credentials.url, credentials.token, o.batch, {
        status(s) {
          last = s;
          show(s);
          if (s.status !== 'active') {
            clearTimeout(timer);
            watch.close();
            resolveFinal(s);
          }
        },
        connection(isLost) {
          lost = isLost;
          show(last);
        },
        failed(error) {
          clearTimeout(timer);
          reject(error);
        },
        moved(from, to) {
          bar.clear();
          ctx.stderr.write(`${from} does not answer; following batch ${o.batch} on ${to}\n`);
        },
      }, others);
    }).catch((e: unknown) => {
      bar.clear();
      throw e;
    });
    bar.update(finished(final), { total: final.workunits.total });
    bar.finish();
    if (o.json) ctx.print(JSON.stringify(final));
    const message = verdict(final);
    if (!o.json) ctx.print(message);
    return 0;
  },
});

/** Where `results` writes: whole lines only, so that what a broken download leaves is whole results. */
interface ResultsSink {
  /** Writes bytes that end with a newline. */
  write(bytes: Uint8Array): Promise<void>;
  /** The download is complete. */
  commit(): Promise<void>;
  /** The download failed: undo what can be undone. */
  abandon(): Promise<void>;
  /** For messages: "run-1.ndjson", "stdout". */
  readonly name: string;
  /** After a failure, what the reader has: "nothing written", "stdout has the first 12 results only". */
  leftAfterFailure(lines: number): string;
}

/** Fails at once, before any download, when FILE cannot be written: which folder is missing, say. */
function checkOutFile(out: string): void {
  const folder = dirname(out);
  let stat;
  try {
    stat = statSync(folder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Failure(`cannot write ${out}: the folder ${folder} does not exist (create it first)`);
    throw new Failure(`cannot write ${out}: ${fsReason(e)}`);
  }
  if (!stat.isDirectory()) throw new Failure(`cannot write ${out}: ${folder} is not a folder`);
  try {
    if (statSync(out).isDirectory()) throw new Failure(`cannot write ${out}: it is a folder; name a file in it, e.g. ${join(out, 'results.ndjson')}`);
  } catch (e) {
    if (e instanceof Failure) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Failure(`cannot write ${out}: ${fsReason(e)}`);
  }
  try {
    accessSync(folder, fsConstants.W_OK);
  } catch {
    throw new Failure(`cannot write ${out}: no permission to create files in ${folder}`);
  }
}

/** A temporary file renamed into place at the end, so a broken download never leaves half a file. */
async function fileSink(out: string): Promise<ResultsSink> {
  const path = resolve(out);
  const tmp = `${path}.part-${process.pid}`;
  let file: FileHandle;
  try {
    file = await open(tmp, 'w', 0o644);
  } catch (e) {
    throw new Failure(`cannot write ${out}: ${fsReason(e)}`);
  }
  // Synchronous: the process may exit right after a failure is reported.
  const removeTmp = () => rmSync(tmp, { force: true });
  const onSignal = () => {
    removeTmp();
    process.stderr.write('\nerror: download interrupted; nothing written\n');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  return {
    name: out,
    async write(bytes) {
      try {
        await file.write(bytes);
      } catch (e) {
        throw new Failure(`cannot write ${out}: ${fsReason(e)}; nothing written`);
      }
    },
    async commit() {
      try {
        await file.sync();
        await file.close();
        await rename(tmp, path);
        syncDir(dirname(path));
      } catch (e) {
        throw new Failure(`cannot write ${out}: ${fsReason(e)}; nothing written`);
      } finally {
        process.off('SIGINT', onSignal);
      }
    },
    async abandon() {
      process.off('SIGINT', onSignal);
      await file.close().catch(() => undefined);
      removeTmp();
    },
    leftAfterFailure: () => 'nothing written',
  };
}

/** Standard output, with its back-pressure; a reader that goes away (`| head`) ends the download quietly. */
function stdoutSink(stdout: NodeJS.WriteStream): ResultsSink & { readonly closed: boolean } {
  let closed = false;
  let failure: Error | undefined;
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') closed = true;
    else failure = e;
  });
  return {
    name: 'stdout',
    get closed() {
      return closed;
    },
    async write(bytes) {
      if (closed) return;
      if (failure) throw new Failure(`cannot write the results to stdout: ${fsReason(failure)}`);
      if (!stdout.write(bytes)) await new Promise<void>((resolveDrain) => {
        const done = () => {
          stdout.off('drain', done);
          stdout.off('error', done);
          stdout.off('close', done);
          resolveDrain();
        };
        stdout.once('drain', done).once('error', done).once('close', done);
      });
    },
    async commit() {},
    async abandon() {},
    leftAfterFailure: (lines) => `stdout has the first ${formatCount(lines)} result${lines === 1 ? '' : 's'} only`,
  };
}

export const results = defineCommand({
  words: ['results'],
  summary: "download a batch's results as NDJSON (to stdout, or a file)",
  usage: `Usage: volunteer-grid results BATCH [--out FILE] [--status done]

Streams the results of the batch's finished work units, in seq order, one JSON object per line:
{"seq":0,"workunitId":101,"status":"done","output":…} or {…,"status":"failed","error":"…"}.
To stdout by default (progress and the summary go to stderr), so it pipes: volunteer-grid
results 12 | jq …. With --out FILE, FILE appears only once the download is complete: a broken
download leaves no half file (on stdout it leaves whole lines only, and exit 1).

  --out FILE              where to write them (- for stdout, the default); its folder must exist
  --status done           only the work units that are done (leave out failed and cancelled)
`,
  positionals: ['batch'],
  flags: { out: flag(), status: flag() },
  schema: z.strictObject({ batch: Id('batch'), out: Text().optional(), status: Choice(['done']).optional() }),
  async run(o, ctx) {
    const toStdout = o.out === undefined || o.out === '-';
    if (!toStdout) checkOutFile(o.out!);
    const { api } = ctx.connect();
    const s = await getStatus(ctx, o.batch);
    const expected = o.status === 'done' ? s.workunits.done : finished(s);
    // Results scrolling on the terminal show their own progress: no bar drawn over them.
    const quiet = toStdout && ctx.stdout.isTTY === true;
    const bar = new ProgressBar({ label: `batch ${o.batch} results`, format: formatCount, total: expected, out: quiet ? new PassThrough() : ctx.stderr });
    const response = await api.send('GET', `/batches/${o.batch}/results`, { query: { status: o.status }, headers: { accept: 'application/x-ndjson' } });
    if (!response.body) throw new Failure('the coordinator sent no results body');
    const sink = toStdout ? stdoutSink(ctx.stdout) : await fileSink(o.out!);
    let lines = 0;
    let bytes = 0;
    /** The bytes after the last newline, held back until their line is whole. */
    let tail: Uint8Array = new Uint8Array(0);
    try {
      bar.update(0, { note: formatBytes(0) });
      const reader = (response.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await reader.next();
        } catch (e) {
          throw new Failure(`the download of batch ${o.batch}'s results broke off after ${formatBytes(bytes)}: ${describeError(e)}; ${sink.leftAfterFailure(lines)}`);
        }
        if (next.done) break;
        const chunk = next.value;
        bytes += chunk.length;
        const cut = chunk.lastIndexOf(0x0a);
        if (cut === -1) {
          tail = concat(tail, chunk);
          continue;
        }
        const whole = concat(tail, chunk.subarray(0, cut + 1));
        tail = chunk.slice(cut + 1);
        for (const byte of whole) if (byte === 0x0a) lines++;
        await sink.write(whole);
        if ('closed' in sink && sink.closed) {
          // The reader went away (`| head`): what it took is what it wanted.
          await (reader.return?.() ?? Promise.resolve());
          bar.clear();
          return 0;
        }
        bar.update(lines, { note: formatBytes(bytes) });
      }
      if (tail.length > 0) throw new Failure(`the download of batch ${o.batch}'s results ended in the middle of a line; ${sink.leftAfterFailure(lines)}`);
      await sink.commit();
    } catch (e) {
      bar.clear();
      await sink.abandon();
      throw e;
    }
    const partial = s.status === 'active' ? ` (batch still active: ${formatCount(s.workunits.active)} work units not finished yet are left out)` : '';
    const summary = `wrote ${formatCount(lines)} results (${formatBytes(bytes)}) to ${sink.name}${partial}`;
    if (toStdout) {
      // The summary would mix with the results on stdout: it takes the progress line's place on stderr.
      bar.clear();
      ctx.stderr.write(`${summary}\n`);
    } else {
      bar.update(lines, { total: Math.max(expected, lines), note: formatBytes(bytes) });
      bar.finish();
      ctx.print(summary);
    }
    return 0;
  },
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

export const cancel = defineCommand({
  words: ['cancel'],
  summary: "cancel a batch's open work units",
  usage: `Usage: volunteer-grid cancel BATCH

Open work units become cancelled; replicas out on volunteers are aborted there at once.
Finished results stay available.
`,
  positionals: ['batch'],
  flags: {},
  schema: z.strictObject({ batch: Id('batch') }),
  async run(o, ctx) {
    const { cancelled } = await ctx.connect().api.call('POST', `/batches/${o.batch}/cancel`, CancelledSchema);
    ctx.print(`cancelled ${formatCount(cancelled)} work unit${cancelled === 1 ? '' : 's'} of batch ${o.batch}`);
    return 0;
  },
});

export const errors = defineCommand({
  words: ['errors'],
  summary: "show a batch's client errors, newest first",
  usage: `Usage: volunteer-grid errors BATCH [--limit N] [--json]

  --limit N               at most this many errors (server default)
${jsonHelp()}
`,
  positionals: ['batch'],
  flags: { limit: flag(), json: flag(true) },
  schema: z.strictObject({ batch: Id('batch'), limit: WholeNumber(1).optional(), json: Switch }),
  async run(o, ctx) {
    const answer = await ctx.connect().api.call('GET', `/batches/${o.batch}/errors`, BatchErrorsSchema, { query: { limit: o.limit } });
    if (o.json) {
      ctx.print(JSON.stringify(answer));
      return 0;
    }
    const codes = Object.entries(answer.byCode);
    if (codes.length === 0) {
      ctx.print(`batch ${o.batch} has no errors`);
      return 0;
    }
    ctx.print(`errors by code: ${codes.map(([code, n]) => `${code} ${formatCount(n)}`).join(', ')}\n`);
    // Each message whole, its location included: wrapped on a terminal, as it is elsewhere.
    ctx.print(
      formatTable(
        ['AT', 'SEQ', 'WORKUNIT', 'HOST', 'CODE', 'MESSAGE'],
        answer.errors.map((e) => [formatTime(e.at), e.seq, e.workunitId, e.hostName ?? '-', e.code, e.message]),
        ctx.stdout.isTTY ? { width: ctx.stdout.columns || 100 } : {},
      ),
    );
    return 0;
  },
});
