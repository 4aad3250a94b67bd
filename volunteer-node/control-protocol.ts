// What the companion (`volunteer-grid-volunteer status | pause | …`) and the running daemon say
// to each other over the control socket: one request per connection, one JSON line each way,
// both checked with these schemas on arrival.
import { z } from 'zod';
import { VolunteerPreferencesSchema } from '../protocol/messages.js';

/** The control socket's file name in the data dir. */
export const CONTROL_SOCKET = 'control.sock';
/** The longest line either side reads. */
export const MAX_CONTROL_LINE_BYTES = 256 * 1024;

const ProjectName = z.string().trim().min(1).max(200);

export const ControlRequestSchema = z.discriminatedUnion('cmd', [
  z.strictObject({ cmd: z.literal('status') }),
  z.strictObject({ cmd: z.literal('pause') }),
  z.strictObject({ cmd: z.literal('resume') }),
  /** Without a project: from no project. */
  z.strictObject({ cmd: z.literal('no-new-tasks'), project: ProjectName.optional() }),
  z.strictObject({ cmd: z.literal('allow-new-tasks'), project: ProjectName.optional() }),
  z.strictObject({ cmd: z.literal('tasks') }),
  z.strictObject({ cmd: z.literal('credit') }),
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;
export type ControlCommand = ControlRequest['cmd'];
export const CONTROL_COMMANDS: readonly ControlCommand[] = ['status', 'pause', 'resume', 'no-new-tasks', 'allow-new-tasks', 'tasks', 'credit'];
export const isCompanionCommand = (arg: string | undefined): arg is ControlCommand => CONTROL_COMMANDS.includes(arg as ControlCommand);

const Count = z.number().int().nonnegative();

/** With several coordinator instances: the one it is on, or tries next. */
const Instance = z.string().optional();

export const ConnectionSchema = z.discriminatedUnion('state', [
  z.strictObject({ state: z.literal('connected'), instance: Instance }),
  /** Not connected: the last attempt's problem, if one failed, and when the next try is. */
  z.strictObject({ state: z.literal('connecting'), problem: z.string().optional(), retryInMs: Count.optional(), instance: Instance }),
  z.strictObject({ state: z.literal('lost'), reason: z.string(), sinceMs: Count, problem: z.string().optional(), retryInMs: Count.optional(), instance: Instance }),
]);

export const StatusSchema = z.strictObject({
  /** The coordinator instance it is on, or tries next. */
  url: z.string(),
  /** With several instances: this host's order of them, first choice first. */
  instances: z.array(z.string()).optional(),
  hostKey: z.string(),
  pid: Count,
  threads: Count,
  connection: ConnectionSchema,
  /** Why it computes nothing now, empty when it computes: paused by its owner, outside its hours… */
  paused: z.array(z.string()),
  noNewTasks: z.boolean(),
  noNewTasksProjects: z.array(z.string()),
  /** The project preferences sent with every ask for work (config, flags and no-new-tasks PROJECT). */
  preferences: VolunteerPreferencesSchema.optional(),
  /** The compute hours, when a schedule is set ("22:00–07:00"). */
  schedule: z.string().optional(),
  /** Why a thread is idle, when one is. */
  idle: z.string().optional(),
  running: Count,
  queued: Count,
  unreported: Count,
  done: Count,
  errors: Count,
  credit: z.number(),
});
export type Status = z.infer<typeof StatusSchema>;

export const TaskInfoSchema = z.strictObject({
  taskId: Count,
  project: z.string(),
  app: z.string(),
  /**
   * Held: preparing, queued, running. Over (the latest the daemon keeps): reporting, pending
   * (validation), valid, invalid (its result lost the quorum vote, or its credit was taken back),
   * error, not_taken, aborted, given_back.
   */
  state: z.enum(['preparing', 'queued', 'running', 'reporting', 'pending', 'valid', 'invalid', 'error', 'not_taken', 'aborted', 'given_back']),
  progress: z.number().min(0).max(1),
  checkpointed: z.boolean(),
  /** Valid: the credit its receipts add up to. */
  credit: z.number().optional(),
  /** An error, a result not taken, an abort or a give-back: its code and message. */
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
});
export type TaskInfo = z.infer<typeof TaskInfoSchema>;

export const CreditInfoSchema = z.strictObject({
  total: z.number(),
  receipts: Count,
  lastGrantedAt: Count.optional(),
  /** Credit granted per UTC day, the last 7 days, oldest first. */
  days: z.array(z.strictObject({ day: z.string(), credit: z.number() })),
});
export type CreditInfo = z.infer<typeof CreditInfoSchema>;

/** The reply each command gets when it succeeds. */
export const ControlReplySchemas = {
  status: z.strictObject({ ok: z.literal(true), status: StatusSchema }),
  pause: z.strictObject({ ok: z.literal(true), status: StatusSchema }),
  resume: z.strictObject({ ok: z.literal(true), status: StatusSchema }),
  'no-new-tasks': z.strictObject({ ok: z.literal(true), status: StatusSchema }),
  'allow-new-tasks': z.strictObject({ ok: z.literal(true), status: StatusSchema }),
  tasks: z.strictObject({ ok: z.literal(true), tasks: z.array(TaskInfoSchema) }),
  credit: z.strictObject({ ok: z.literal(true), credit: CreditInfoSchema }),
} satisfies Record<ControlCommand, z.ZodType>;

export type ControlReply<C extends ControlCommand> = z.infer<(typeof ControlReplySchemas)[C]>;

export const ErrorReplySchema = z.strictObject({ ok: z.literal(false), error: z.strictObject({ code: z.string(), message: z.string() }) });

