// Projects: list, create, pause and resume; an admin sets a project's credit cap and priority bound.
import { z } from 'zod';
import { ProjectListSchema, ProjectSchema } from '../../protocol/api.js';
import { defineCommand, flag } from '../command.js';
import { formatTable } from '../format.js';
import { Decimal, Id, jsonHelp, Switch, Text, WholeNumber } from '../options.js';

export const projectsList = defineCommand({
  words: ['projects', 'list'],
  summary: 'list your projects (an admin sees all)',
  usage: `Usage: volunteer-grid projects list [--json]

${jsonHelp()}
`,
  flags: { json: flag(true) },
  schema: z.strictObject({ json: Switch }),
  async run(o, ctx) {
    const { projects } = await ctx.connect().api.call('GET', '/projects', ProjectListSchema);
    if (o.json) {
      ctx.print(JSON.stringify({ projects }));
      return 0;
    }
    if (projects.length === 0) {
      ctx.print('no projects yet: create one with `volunteer-grid projects create NAME`');
      return 0;
    }
    ctx.print(
      formatTable(
        ['ID', 'NAME', 'STATUS', 'OWNER', 'ACTIVE', 'DONE', 'FAILED', 'CANCELLED', 'CREDIT CAP'],
        projects.map((p) => [p.id, p.name, p.status, p.ownerName ?? '-', p.workunits.active, p.workunits.done, p.workunits.failed, p.workunits.cancelled,
          `${p.creditCap.maxPerResult}${p.creditCap.isDefault ? ' (default)' : ''}`]),
      ),
    );
    return 0;
  },
});

export const projectsCreate = defineCommand({
  words: ['projects', 'create'],
  summary: 'create a project',
  usage: `Usage: volunteer-grid projects create NAME [--description TEXT] [--json]

  --description TEXT      what the project computes, shown to volunteers
${jsonHelp()}
`,
  positionals: ['name'],
  flags: { description: flag(), json: flag(true) },
  schema: z.strictObject({ name: Text(), description: z.string().optional(), json: Switch }),
  async run(o, ctx) {
    const project = await ctx.connect().api.call('POST', '/projects', ProjectSchema, {
      json: { name: o.name, ...(o.description === undefined ? {} : { description: o.description }) },
    });
    ctx.print(o.json ? JSON.stringify(project) : `created project ${project.id} (${project.name})`);
    return 0;
  },
});

const setStatus = (status: 'paused' | 'active', verb: 'pause' | 'resume', summary: string) =>
  defineCommand({
    words: ['projects', verb],
    summary,
    usage: `Usage: volunteer-grid projects ${verb} ID

${verb === 'pause' ? "A paused project's tasks are not handed out; tasks already out finish normally." : 'Hands out the tasks of a paused project again.'}
`,
    positionals: ['id'],
    flags: {},
    schema: z.strictObject({ id: Id('project') }),
    async run(o, ctx) {
      const project = await ctx.connect().api.call('PATCH', `/projects/${o.id}`, ProjectSchema, { json: { status } });
      ctx.print(`project ${project.id} (${project.name}) is ${project.status}`);
      return 0;
    },
  });

export const projectsPause = setStatus('paused', 'pause', 'stop handing out the tasks of a project');
export const projectsResume = setStatus('active', 'resume', 'hand out the tasks of a paused project again');

export const projectsCreditCap = defineCommand({
  words: ['projects', 'credit-cap'],
  summary: 'cap the credit one result earns in a project (admins)',
  usage: `Usage: volunteer-grid projects credit-cap ID (--max-per-result CREDITS | --default) [--json]

Admins only. Every later grant in the project is held to the cap, and credit already granted
above it is taken back, by signed ledger entries the volunteers are sent, in the background:
\`projects list\` shows the cap, and the API's creditCap.correcting says when that is done.
Raising the cap gives nothing back.

  --max-per-result CREDITS  the cap, in credits (to the micro-credit)
  --default                 the coordinator's --max-credit-per-result instead of a cap of its own
${jsonHelp(28)}
`,
  positionals: ['id'],
  flags: { 'max-per-result': flag(), default: flag(true), json: flag(true) },
  schema: z
    .strictObject({
      id: Id('project'),
      maxPerResult: Decimal({ atLeast: 0, atMost: 1e9 }, ' of credits').optional(),
      default: Switch,
      json: Switch,
    })
    .refine((o) => (o.maxPerResult === undefined) !== !o.default, { message: 'give either --max-per-result CREDITS or --default' }),
  async run(o, ctx) {
    const project = await ctx.connect().api.call('PUT', `/projects/${o.id}/credit-cap`, ProjectSchema, {
      json: { maxCreditPerResult: o.default ? null : o.maxPerResult },
    });
    if (o.json) {
      ctx.print(JSON.stringify(project));
      return 0;
    }
    const cap = project.creditCap;
    ctx.print(
      `project ${project.id} (${project.name}): at most ${cap.maxPerResult} credits per result${cap.isDefault ? " (the coordinator's default)" : ''}` +
        (cap.correcting ? '; credit granted above it is being taken back' : ''),
    );
    return 0;
  },
});

export const projectsPriorityCap = defineCommand({
  words: ['projects', 'priority-cap'],
  summary: "bound the priority of a project's work units (admins)",
  usage: `Usage: volunteer-grid projects priority-cap ID (--max N | --default) [--json]

Admins only. A batch asking for a work-unit priority above the bound is refused, and the
project's queued work above it is brought down to it, in the background (the API's
priorityCap.lowering says when that is done). Raising the bound raises nothing.

  --max N                   the highest priority, 0 to 1000
  --default                 the coordinator's --max-priority instead of a bound of its own
${jsonHelp(28)}
`,
  positionals: ['id'],
  flags: { max: flag(), default: flag(true), json: flag(true) },
  schema: z
    .strictObject({
      id: Id('project'),
      max: WholeNumber(0, 1000).optional(),
      default: Switch,
      json: Switch,
    })
    .refine((o) => (o.max === undefined) !== !o.default, { message: 'give either --max N or --default' }),
  async run(o, ctx) {
    const project = await ctx.connect().api.call('PUT', `/projects/${o.id}/priority-cap`, ProjectSchema, {
      json: { maxPriority: o.default ? null : o.max },
    });
    if (o.json) {
      ctx.print(JSON.stringify(project));
      return 0;
    }
    const cap = project.priorityCap;
    ctx.print(
      `project ${project.id} (${project.name}): work-unit priority at most ${cap.maxPriority}${cap.isDefault ? " (the coordinator's default)" : ''}` +
        (cap.lowering ? '; queued work above it is being brought down' : ''),
    );
    return 0;
  },
});
