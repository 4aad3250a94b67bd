// After something went wrong: retry a batch's failed work units once a fixed version is in, pin
// a batch to a version, retire a version, archive a finished batch (docs/api.md, "Repairing a
// batch").
import { z } from 'zod';
import { AppVersionSchema, BatchStatusSchema, RetriedSchema } from '../../protocol/api.js';
import { defineCommand, flag, repeatable } from '../command.js';
import { formatCount } from '../format.js';
import { Id, jsonHelp, Switch, Text, WholeNumber } from '../options.js';

const plural = (n: number, one: string) => `${formatCount(n)} ${one}${n === 1 ? '' : 's'}`;

export const retry = defineCommand({
  words: ['retry'],
  summary: "open a batch's failed work units again, with fresh budgets",
  usage: `Usage: volunteer-grid retry BATCH [--code CODE]... [--json]

Failed work units become active again and get new replicas at once; what they had before counts
for nothing (their error and result budgets start afresh, every volunteer may take them again).
Upload the fixed version first: new tasks go out with the newest version not retired, or the
version the batch is pinned to. \`volunteer-grid errors BATCH\` shows the codes.

  --code CODE             only work units whose last attempt failed with this error code
                          (repeatable; default: every failed work unit)
${jsonHelp()}
`,
  positionals: ['batch'],
  flags: { code: repeatable(), json: flag(true) },
  schema: z.strictObject({ batch: Id('batch'), code: z.array(Text(64)).max(32).default([]), json: Switch }),
  async run(o, ctx) {
    const body = o.code.length > 0 ? { codes: o.code } : {};
    const { retried } = await ctx.connect().api.call('POST', `/batches/${o.batch}/retry`, RetriedSchema, { json: body });
    if (o.json) {
      ctx.print(JSON.stringify({ retried }));
      return 0;
    }
    const which = o.code.length > 0 ? ` that failed with ${o.code.join(' or ')}` : '';
    ctx.print(
      retried === 0
        ? `batch ${o.batch} has no failed work units${which}: nothing to retry`
        : `retried ${plural(retried, 'failed work unit')} of batch ${o.batch}${which}; follow them with \`volunteer-grid wait ${o.batch}\``,
    );
    return 0;
  },
});

export const pin = defineCommand({
  words: ['pin'],
  summary: 'send a batch\'s tasks with one version of its app only (or the newest again)',
  usage: `Usage: volunteer-grid pin BATCH (--version N | --newest) [--json]

A pinned batch's tasks go out with that version only; if it is retired or broken, the batch gets
no tasks and its status says why. --newest undoes it: the newest version not retired again.

  --version N             the app version to pin the batch to
  --newest                pin to no version
${jsonHelp()}
`,
  positionals: ['batch'],
  flags: { version: flag(), newest: flag(true), json: flag(true) },
  schema: z
    .strictObject({ batch: Id('batch'), version: WholeNumber(1).optional(), newest: Switch, json: Switch })
    .refine((o) => (o.version !== undefined) !== o.newest, { message: 'give either --version N or --newest' }),
  async run(o, ctx) {
    const s = await ctx.connect().api.call('PATCH', `/batches/${o.batch}`, BatchStatusSchema, { json: { appVersion: o.newest ? null : o.version } });
    if (o.json) ctx.print(JSON.stringify(s));
    else if (s.appVersion == null) ctx.print(`batch ${s.id} is pinned to no version: its tasks go out with the newest version of app ${s.appName ?? s.appId} not retired`);
    else ctx.print(`batch ${s.id} is pinned to version ${s.appVersion} of app ${s.appName ?? s.appId}`);
    for (const b of s.blocked ?? []) ctx.stderr.write(`warning: ${b.message}\n`);
    return 0;
  },
});

export const archive = defineCommand({
  words: ['archive'],
  summary: 'leave a finished batch out of lists (or bring it back)',
  usage: `Usage: volunteer-grid archive BATCH [--undo] [--json]

An archived batch is left out of \`volunteer-grid batches list\` unless --archived is given, and
stays readable (status, results, errors). Only a finished or cancelled batch can be archived.

  --undo                  bring it back into lists
${jsonHelp()}
`,
  positionals: ['batch'],
  flags: { undo: flag(true), json: flag(true) },
  schema: z.strictObject({ batch: Id('batch'), undo: Switch, json: Switch }),
  async run(o, ctx) {
    const s = await ctx.connect().api.call('PATCH', `/batches/${o.batch}`, BatchStatusSchema, { json: { archived: !o.undo } });
    if (o.json) ctx.print(JSON.stringify(s));
    else ctx.print(s.archived ? `archived batch ${s.id} "${s.name}"` : `batch ${s.id} "${s.name}" is back in lists`);
    return 0;
  },
});

export const appsRetire = defineCommand({
  words: ['apps', 'retire'],
  summary: 'send no new task with a version of an app (or bring it back)',
  usage: `Usage: volunteer-grid apps retire APP VERSION [--undo] [--json]

No new task goes out with a retired version; the newest version not retired is sent instead, so
retiring the newest goes back to the one before. Tasks already out finish as they are.

  --undo                  bring the version back
${jsonHelp()}
`,
  positionals: ['app', 'version'],
  flags: { undo: flag(true), json: flag(true) },
  schema: z.strictObject({ app: Id('app'), version: WholeNumber(1), undo: Switch, json: Switch }),
  async run(o, ctx) {
    const v = await ctx.connect().api.call('PATCH', `/apps/${o.app}/versions/${o.version}`, AppVersionSchema, { json: { retired: !o.undo } });
    if (o.json) ctx.print(JSON.stringify(v));
    else ctx.print(v.retiredAt !== null ? `retired version ${v.version} of app ${o.app}: no new task goes out with it` : `version ${v.version} of app ${o.app} is back in service`);
    return 0;
  },
});
