// Following batches: list, status, wait (live), results (download), cancel, errors.
import { rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { syncDir } from '../../common/durable-file.js';
import { BatchErrorsSchema, BatchListSchema, type BatchStatus, BatchStatusSchema, CancelledSchema } from '../../protocol/api.js';
import { defineCommand, flag } from '../command.js';
import type { Context } from '../context.js';
import { Failure } from '../failure.js';
import { formatBytes, formatCount, formatDuration, formatTable, formatTime } from '../format.js';
import { Choice, Decimal, Id, jsonHelp, Switch, WholeNumber } from '../options.js';
import { ProgressBar } from '../progress-bar.js';

const finished = (s: BatchStatus) => s.workunits.done + s.workunits.failed + s.workunits.cancelled;

const getStatus = (ctx: Context, batch: number) => ctx.connect().api.call('GET', `/batches/${batch}`, BatchStatusSchema);

export const batchesList = defineCommand({
  words: ['batches', 'list'],
  summary: 'list batches (yours; an admin sees all)',
  usage: `Usage: volunteer-grid batches list [--project ID] [--app ID] [--json]

  --project ID            only this project's batches
  --app ID                only this app's batches
${jsonHelp()}
`,
  flags: { project: flag(), app: flag(), json: flag(true) },
  schema: z.strictObject({ project: Id('project').optional(), app: Id('app').optional(), json: Switch }),
  async run(o, ctx) {
    const { batches } = await ctx.connect().api.call('GET', '/batches', BatchListSchema, { query: { projectId: o.project, appId: o.app } });
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
          b.status,
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
    `batch ${s.id} "${s.name}": ${s.status}`,
    `  app         ${s.appName ?? '?'} (${s.appId}) in project ${s.projectName ?? '?'} (${s.projectId})`,
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
passed first.

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
    const { watchBatch } = await import('../batch-watch.js');
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
      });
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

export const results = defineCommand({
  words: ['results'],
  summary: "download a batch's results as NDJSON",
  usage: `Usage: volunteer-grid results BATCH --out FILE [--status done]

Streams the results of the batch's finished work units, in seq order, one JSON object per line:
{"seq":0,"workunitId":101,"status":"done","output":…} or {…,"status":"failed","error":"…"}.
FILE appears only once the download is complete; a broken download leaves no half file.

  --out FILE              where to write them
  --status done           only the work units that are done (leave out failed and cancelled)
`,
  positionals: ['batch'],
  flags: { out: flag(), status: flag() },
  schema: z.strictObject({ batch: Id('batch'), out: z.string().min(1), status: Choice(['done']).optional() }),
  async run(o, ctx) {
    const { api } = ctx.connect();
    const s = await getStatus(ctx, o.batch);
    const expected = o.status === 'done' ? s.workunits.done : finished(s);
    const out = resolve(o.out);
    const tmp = `${out}.part-${process.pid}`;
    const bar = new ProgressBar({ label: `batch ${o.batch} results`, format: formatCount, total: expected, out: ctx.stderr });
    const file = await open(tmp, 'w', 0o644);
    // Synchronous: the process may exit right after a failure is reported.
    const removeTmp = () => rmSync(tmp, { force: true });
    const onSignal = () => {
      bar.clear();
      removeTmp();
      ctx.stderr.write('error: download interrupted; nothing written\n');
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    let lines = 0;
    let bytes = 0;
    try {
      const response = await api.send('GET', `/batches/${o.batch}/results`, { query: { status: o.status }, headers: { accept: 'application/x-ndjson' } });
      if (!response.body) throw new Failure('the coordinator sent no results body');
      let lastByte = 0x0a;
      bar.update(0, { note: formatBytes(0) });
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          for (const byte of chunk) if (byte === 0x0a) lines++;
          bytes += chunk.length;
          lastByte = chunk[chunk.length - 1] ?? lastByte;
          await file.write(chunk);
          bar.update(lines, { note: formatBytes(bytes) });
        }
      } catch (e) {
        throw new Failure(`the download of batch ${o.batch}'s results broke off after ${formatBytes(bytes)}: ${(e as Error).message}; nothing written`);
      }
      if (lastByte !== 0x0a) throw new Failure(`the download of batch ${o.batch}'s results ended in the middle of a line; nothing written`);
      await file.sync();
      await file.close();
      await rename(tmp, out);
      syncDir(dirname(out));
    } catch (e) {
      bar.clear();
      await file.close().catch(() => undefined);
      removeTmp();
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
    }
    bar.update(lines, { total: Math.max(expected, lines), note: formatBytes(bytes) });
    bar.finish();
    const partial = s.status === 'active' ? ` (batch still active: ${formatCount(s.workunits.active)} work units not finished yet are left out)` : '';
    ctx.print(`wrote ${formatCount(lines)} results (${formatBytes(bytes)}) to ${o.out}${partial}`);
    return 0;
  },
});

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
    ctx.print(
      formatTable(
        ['AT', 'SEQ', 'WORKUNIT', 'HOST', 'CODE', 'MESSAGE'],
        answer.errors.map((e) => [formatTime(e.at), e.seq, e.workunitId, e.hostName ?? '-', e.code, e.message.split('\n')[0]!.slice(0, 120)]),
      ),
    );
    return 0;
  },
});
