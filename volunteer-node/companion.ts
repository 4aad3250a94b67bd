// `volunteer-grid-volunteer status | pause | resume | no-new-tasks [PROJECT] | allow-new-tasks
// [PROJECT] | tasks | credit [--data-dir DIR] [--json]`: boinccmd for the daemon, over its control
// socket. Prints what the daemon answers, in words (or its JSON), and exits 1 with the reason
// when there is no daemon to ask or it refuses.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { type ControlCommand, type ControlRequest, type CreditInfo, type Status, type TaskInfo } from './control-protocol.js';
import { callControl, ControlError } from './control-socket.js';

const USAGE = `Usage: volunteer-grid-volunteer COMMAND [--data-dir DIR] [--json]

  status                     what the running volunteer does, and why it is idle if it is
  tasks                      the tasks it holds (running, queued, being prepared), then the
                             latest it finished and what came of them (pending validation,
                             valid, invalid, an error…)
  credit                     its credit, from the signed receipts it keeps, per day
  pause | resume             stop computing (running tasks stop and resume later from their
                             last checkpoint; tasks not begun are given back) | go on
  no-new-tasks [PROJECT]     ask for no more tasks (of PROJECT only); held ones still run
  allow-new-tasks [PROJECT]  ask for tasks again

  --data-dir DIR   the running volunteer's data dir (default ./volunteer-data, or VG_VOLUNTEER_DATA_DIR)
  --json           print the daemon's reply as JSON
`;

/** Runs one command; returns the exit code. */
export async function runCompanion(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let values: { 'data-dir'?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }));
  } catch (e) {
    err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const [cmd, project, ...rest] = positionals as [ControlCommand, string | undefined, ...string[]];
  const takesProject = cmd === 'no-new-tasks' || cmd === 'allow-new-tasks';
  if (rest.length > 0 || (project !== undefined && !takesProject)) {
    err(`${cmd}: unexpected ${[project, ...rest].filter(Boolean).join(' ')}\n\n${USAGE}`);
    return 2;
  }
  const dataDir = resolve(values['data-dir'] ?? env.VG_VOLUNTEER_DATA_DIR ?? './volunteer-data');
  const request = (takesProject && project !== undefined ? { cmd, project } : { cmd }) as ControlRequest;
  try {
    const reply = await callControl(dataDir, request);
    if (values.json) out(`${JSON.stringify(reply, null, 2)}\n`);
    else if ('tasks' in reply) out(formatTasks(reply.tasks));
    else if ('credit' in reply) out(formatCredit(reply.credit));
    else out(`${said(request)}${formatStatus(reply.status)}`);
    return 0;
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    err(`volunteer-grid-volunteer ${cmd}: ${e.message}\n`);
    return 1;
  }
}

function said(r: ControlRequest): string {
  switch (r.cmd) {
    case 'pause':
      return 'Paused.\n\n';
    case 'resume':
      return 'Resumed.\n\n';
    case 'no-new-tasks':
      return r.project === undefined ? 'No new tasks from any project.\n\n' : `No new tasks from ${r.project}.\n\n`;
    case 'allow-new-tasks':
      return r.project === undefined ? 'New tasks allowed.\n\n' : `New tasks from ${r.project} allowed.\n\n`;
    default:
      return '';
  }
}

export function formatStatus(s: Status): string {
  const c = s.connection;
  const retry = 'retryInMs' in c && c.retryInMs !== undefined ? `; next try${c.instance === undefined ? '' : ` at ${c.instance}`} in ${Math.ceil(c.retryInMs / 1000)} s` : '';
  const connection =
    c.state === 'connected'
      ? 'connected'
      : c.state === 'lost'
        ? `lost ${Math.floor(c.sinceMs / 1000)} s ago (${c.reason})${c.problem ? `: ${c.problem}` : ''}${retry}`
        : `connecting${c.problem ? `: ${c.problem}` : ''}${retry}`;
  const lines = [
    `coordinator   ${s.url} — ${connection}`,
    ...(s.instances ? [`instances     ${s.instances.map((u) => (u === s.url ? `${u} (this one)` : u)).join(', ')} (this host's order)`] : []),
    `host key      ${s.hostKey} (pid ${s.pid})`,
    `computing     ${s.paused.length > 0 ? `no: ${s.paused.join('; ')}` : 'yes'}${s.schedule ? ` (compute hours ${s.schedule})` : ''}`,
    `new tasks     ${s.noNewTasks ? 'none (allow-new-tasks to ask again)' : s.noNewTasksProjects.length > 0 ? `not from ${s.noNewTasksProjects.join(', ')}` : 'yes'}`,
    `projects      ${describePreferences(s.preferences)}`,
    `threads       ${s.threads}: ${s.running} running${s.idle ? `; idle: ${s.idle}` : ''}`,
    `tasks         ${s.queued} queued, ${s.unreported} results to report`,
    `done          ${s.done} tasks, ${s.errors} errors (since the data dir was created)`,
    `credit        ${s.credit.toFixed(2)}`,
  ];
  return `${lines.join('\n')}\n`;
}

function describePreferences(p: Status['preferences']): string {
  if (!p) return 'all, at equal shares';
  const listed = (p.projects ?? []).map((x) => `${x.project} (${x.noNewTasks ? 'no new tasks' : `share ${x.share ?? 100}`})`);
  return `${listed.join(', ') || 'none listed'}${p.onlyListed ? '; only these' : '; others at share 100'}`;
}

const HELD: ReadonlySet<TaskInfo['state']> = new Set(['preparing', 'queued', 'running']);

/** A task's state in words: what came of it once it is over (BOINC Manager's "Completed, marked as invalid"). */
function stateWords(t: TaskInfo): string {
  switch (t.state) {
    case 'pending':
      return 'pending validation';
    case 'valid':
      return `valid, ${(t.credit ?? 0).toFixed(2)} credit`;
    case 'invalid':
      return 'invalid: other volunteers agreed on another result';
    case 'error':
      return `error: ${t.error?.code ?? 'unknown'}`;
    case 'not_taken':
      return `not taken: ${t.error?.code ?? 'rejected'}`;
    case 'given_back':
      return 'handed back';
    default:
      return t.state;
  }
}

export function formatTasks(tasks: TaskInfo[]): string {
  if (tasks.length === 0) return 'No tasks held.\n';
  const rows = tasks.map((t) => [String(t.taskId), `${t.project}/${t.app}`, stateWords(t), `${(t.progress * 100).toFixed(0)}%`, HELD.has(t.state) ? (t.checkpointed ? 'yes' : 'no') : '-']);
  return table(['TASK', 'PROJECT/APP', 'STATE', 'DONE', 'CHECKPOINT'], rows);
}

export function formatCredit(c: CreditInfo): string {
  const head = `Credit ${c.total.toFixed(2)} from ${c.receipts} signed receipt${c.receipts === 1 ? '' : 's'}${c.lastGrantedAt ? `, the last ${new Date(c.lastGrantedAt).toISOString()}` : ''}\n`;
  if (c.days.length === 0) return `${head}(not connected yet: receipts are read once the coordinator's key is known)\n`;
  return `${head}\n${table(['DAY (UTC)', 'CREDIT'], c.days.map((d) => [d.day, d.credit.toFixed(2)]))}`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
