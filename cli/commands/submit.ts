// Submitting a batch: streams an NDJSON file of inputs (one JSON value per line) to the
// coordinator, which checks every line before creating anything. Idempotent by client key.
import { createHash } from 'node:crypto';
import { closeSync, openSync, statSync } from 'node:fs';
import { z } from 'zod';
import { readAnswer } from '../api-client.js';
import { SubmittedSchema } from '../../protocol/api.js';
import { defineCommand, flag } from '../command.js';
import type { Context } from '../context.js';
import { Failure, fsReason } from '../failure.js';
import { fileBodyStream, sha256OfFile } from '../file-stream.js';
import { formatBytes, formatCount } from '../format.js';
import { Choice, Decimal, Id, jsonHelp, Switch, Text, WholeNumber } from '../options.js';
import { ProgressBar } from '../progress-bar.js';

/** Replication flags, named as the API's query parameters (docs/api.md, "Batches"). */
const REPLICATION = {
  'min-quorum': { key: 'minQuorum', schema: WholeNumber(1).optional(), help: 'agreeing results from distinct hosts needed (default 2)' },
  'target-nresults': { key: 'targetNresults', schema: WholeNumber(1).optional(), help: 'replicas created at once (default 2)' },
  'max-error-results': { key: 'maxErrorResults', schema: WholeNumber(0).optional(), help: 'more client errors than this fail a work unit (default 3)' },
  'max-total-results': { key: 'maxTotalResults', schema: WholeNumber(1).optional(), help: 'more replicas than this fail it (default 8)' },
  'max-success-results': { key: 'maxSuccessResults', schema: WholeNumber(1).optional(), help: 'this many successes without agreement fail it (default 6)' },
  'delay-bound-ms': { key: 'delayBoundMs', schema: WholeNumber(1).optional(), help: 'time a volunteer has for a task (default 86400000)' },
  'fpops-est': { key: 'fpopsEst', schema: Decimal({ above: 0 }).optional(), help: 'estimated floating-point operations per task, drives credit (default 1e10)' },
  priority: { key: 'priority', schema: WholeNumber().optional(), help: 'higher is handed out first (default 0)' },
} as const;
type ReplicationKey = (typeof REPLICATION)[keyof typeof REPLICATION]['key'];

/** The same file, name and app give the same key, so running a submit again creates nothing. */
export function defaultClientKey(appId: number, name: string, fileSha256: string): string {
  return `cli-${createHash('sha256').update(`app ${appId}\nname ${name}\nsha256 ${fileSha256}`).digest('hex').slice(0, 32)}`;
}

async function hashWithProgress(path: string, size: number, ctx: Context): Promise<string> {
  const bar = new ProgressBar({ label: `hashing ${path}`, format: formatBytes, total: size, out: ctx.stderr });
  const hash = await sha256OfFile(path, (read) => bar.update(read));
  bar.clear();
  return hash;
}

export const submit = defineCommand({
  words: ['submit'],
  summary: 'submit a batch of work units from an NDJSON file of inputs',
  usage: `Usage: volunteer-grid submit --app ID --inputs FILE.ndjson --name NAME [options]

Streams FILE (one input per line, any JSON value; blank lines skipped) to the coordinator, which
creates one work unit per line, all or nothing: a bad line means no batch, with its line number
in the error. Submitting the same file under the same name again creates nothing and prints the
first batch: the client key defaults to a hash of the app, the name and the file's SHA-256.

  --app ID                  the app (its newest version not retired runs the work units)
  --inputs FILE             the NDJSON file of inputs
  --name NAME               the batch's name
  --client-key KEY          idempotency key (default: derived from the app, name and file)
  --app-version N           send its tasks with this version of the app only (default: the newest
                            not retired; \`volunteer-grid pin\` changes it later)
  --lines workunits         each line is a whole work unit, {"input", "replication"?, "expectedOutput"?}:
                            how to include sentinels (work units whose answer you know; docs/api.md)
${Object.entries(REPLICATION)
  .map(([f, r]) => `  --${`${f} N`.padEnd(24)}${r.help}`)
  .join('\n')}
${jsonHelp(28)}
`,
  flags: {
    app: flag(),
    inputs: flag(),
    name: flag(),
    'client-key': flag(),
    'app-version': flag(),
    lines: flag(),
    json: flag(true),
    ...Object.fromEntries(Object.keys(REPLICATION).map((f) => [f, flag()])),
  },
  schema: z.strictObject({
    app: Id('app'),
    inputs: Text(),
    name: Text(),
    clientKey: Text(200).optional(),
    appVersion: WholeNumber(1).optional(),
    lines: Choice(['inputs', 'workunits']).default('inputs'),
    json: Switch,
    ...(Object.fromEntries(Object.values(REPLICATION).map((r) => [r.key, r.schema])) as Record<ReplicationKey, (typeof REPLICATION)[keyof typeof REPLICATION]['schema']>),
  }),
  async run(o, ctx) {
    let size: number;
    try {
      const stat = statSync(o.inputs);
      if (!stat.isFile()) throw new Failure(`cannot read ${o.inputs}: it is not a file`);
      size = stat.size;
      // Opened once here: a file it may not read would fail later inside fetch, as a network error.
      closeSync(openSync(o.inputs, 'r'));
    } catch (e) {
      if (e instanceof Failure) throw e;
      throw new Failure(`cannot read ${o.inputs}: ${fsReason(e)}`);
    }
    const { api } = ctx.connect();
    const clientKey = o.clientKey ?? defaultClientKey(o.app, o.name, await hashWithProgress(o.inputs, size, ctx));
    const query: Record<string, string | number | undefined> = { name: o.name, clientKey, lines: o.lines, appVersion: o.appVersion };
    for (const { key } of Object.values(REPLICATION)) query[key] = o[key];

    const bar = new ProgressBar({ label: `submitting ${o.inputs}`, format: formatBytes, total: size, out: ctx.stderr });
    bar.update(0);
    let response: Response;
    try {
      response = await api.send('POST', `/apps/${o.app}/batches`, {
        query,
        headers: { 'content-type': 'application/x-ndjson' },
        // Once all is sent, the coordinator still checks and stores the last chunk of lines.
        body: fileBodyStream(o.inputs, (sent) => bar.update(sent, sent === size ? { note: 'waiting for the coordinator' } : {})),
      });
    } catch (e) {
      bar.clear();
      throw e;
    }
    const result = await readAnswer(response, SubmittedSchema, 'POST /batches');
    bar.finish(result.created ? `sent ${formatBytes(size)}` : 'already submitted');
    if (o.json) ctx.print(JSON.stringify(result));
    else if (result.created) ctx.print(`submitted batch ${result.batchId}: ${formatCount(result.workunits)} work units (client key ${clientKey})`);
    else ctx.print(`already submitted as batch ${result.batchId} (${formatCount(result.workunits)} work units, client key ${clientKey}): nothing new created`);
    for (const w of result.warnings ?? []) ctx.stderr.write(`warning: ${w}\n`);
    return 0;
  },
});
