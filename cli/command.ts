// One command of the CLI: its words, help text, flags, positional arguments and one schema
// that validates them all. Flags win over their environment variables; positional arguments
// become options named after them. What is wrong with the arguments is said in plain words,
// one line per problem, naming the flag and the value given: "--min-quorum must be a whole
// number ≥ 1, not 'x'". Option schemas (cli/options.ts) word their checks as "must …" for that.
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { FlagSpec, Loaded } from '../common/cli-options.js';
import type { Context } from './context.js';
import { orList } from './format.js';

export interface CliFlag extends FlagSpec {
  /** May be given more than once (e.g. --exclude): the schema gets an array. */
  multiple?: boolean;
  /** Its value is never repeated in a message (passwords, tokens). */
  secret?: boolean;
}

export interface Command<S extends z.ZodType = z.ZodType> {
  /** The words that select it, e.g. ['projects', 'create']. */
  words: readonly string[];
  /** One line for the top-level help. */
  summary: string;
  /** The full --help text; each flag's line reads `  --flag METAVAR  what it is`. */
  usage: string;
  /** Names of the positional arguments, in order; each is a key of the schema. */
  positionals?: readonly string[];
  flags: Record<string, CliFlag>;
  schema: S;
  /** Resolves to the exit code; throws Failure for exit 1. */
  run(options: z.infer<S>, ctx: Context): Promise<number>;
}

/** Erases a command's option type so commands of every shape fit in one list. */
export function defineCommand<S extends z.ZodType>(command: Command<S>): Command {
  return command as unknown as Command;
}

/** A flag without an environment variable. */
export const flag = (boolean = false): CliFlag => ({ env: [], ...(boolean ? { boolean } : {}) });

/** A flag that may be given more than once. */
export const repeatable = (): CliFlag => ({ env: [], multiple: true });

/** A flag whose value is a secret. */
export const secret = (): CliFlag => ({ env: [], secret: true });

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The command's options from its arguments (after the command words), or a message and an exit code. */
export function parseCommandLine(command: Command, argv: string[], env: NodeJS.ProcessEnv): Loaded<unknown> {
  const positionals = command.positionals ?? [];
  const types = Object.fromEntries(
    Object.entries(command.flags).map(([name, spec]) => [name, { type: spec.boolean ? 'boolean' : 'string', ...(spec.multiple ? { multiple: true } : {}) } as const]),
  );
  let parsed: ReturnType<typeof parseArgs<{ options: typeof types; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: { ...types, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (e) {
    return usageError(command, parseArgsProblem(command, e as Error & { code?: string }));
  }
  if (parsed.values.help) return { message: command.usage, exitCode: 0 };
  const given = parsed.positionals;
  if (given.length < positionals.length) {
    return usageError(command, `missing ${positionals.slice(given.length).map((p) => p.toUpperCase()).join(' ')}`);
  }
  if (given.length > positionals.length) return usageError(command, `unexpected argument '${given[positionals.length]}'`);

  const raw: Record<string, unknown> = {};
  /** Where each value came from, for messages: the environment variable, when not a flag. */
  const fromEnv: Record<string, string> = {};
  for (const [name, spec] of Object.entries(command.flags)) {
    let value = parsed.values[name];
    if (value === undefined) {
      const variable = spec.env.find((v) => env[v] !== undefined);
      if (variable !== undefined) {
        value = env[variable];
        fromEnv[camel(name)] = variable;
      }
    }
    if (value !== undefined) raw[camel(name)] = value;
  }
  positionals.forEach((name, i) => (raw[name] = given[i]));

  const checked = command.schema.safeParse(raw);
  if (checked.success) return { options: checked.data };
  // The first problem of each flag: "must not be empty" says enough without "must use letters…".
  const firsts = new Map<unknown, z.core.$ZodIssue>();
  for (const issue of checked.error.issues) if (!firsts.has(issue.path[0] ?? issue)) firsts.set(issue.path[0] ?? issue, issue);
  return usageError(command, [...firsts.values()].map((issue) => describeIssue(command, issue, raw, fromEnv)).join('\n'));
}

function usageError(command: Command, message: string): Loaded<never> {
  return { message: `${message}\n\n${command.usage}`, exitCode: 2 };
}

/** What the flag's help line calls its value: `--app ID` → ID. */
function metavar(command: Command, name: string): string | undefined {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\s+--${escaped} (\\S+)`, 'm').exec(command.usage)?.[1];
}

/** node:util's parseArgs errors, said in the same plain words as the rest. */
function parseArgsProblem(command: Command, e: Error & { code?: string }): string {
  const option = /'(-{1,2}[^'\s<]+)/.exec(e.message)?.[1];
  if (!option) return e.message;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option}`;
  if (/does not take an argument/.test(e.message)) return `${option} takes no value`;
  const shown = metavar(command, option.replace(/^-+/, ''));
  if (/ambiguous/.test(e.message)) return `${option} needs a value; one that starts with a dash goes after '=': ${option}=-1`;
  return `${option} needs a value${shown ? `: ${option} ${shown}` : ''}`;
}

/** One problem with the arguments, in words: which flag, what it must be, what was given. */
function describeIssue(command: Command, issue: z.core.$ZodIssue, raw: Record<string, unknown>, fromEnv: Record<string, string>): string {
  const key = issue.path[0];
  if (typeof key !== 'string') {
    if (issue.code === 'unrecognized_keys') return `unexpected ${issue.keys.map((k) => `--${kebab(k)}`).join(', ')}`;
    return issue.message; // a rule over several flags, worded for people where it is defined
  }
  const positional = command.positionals?.includes(key) ?? false;
  const name = positional ? key : kebab(key);
  const label = positional ? key.toUpperCase() : `--${name}`;
  const spec = command.flags[name];
  let value = raw[key];
  if (Array.isArray(value) && typeof issue.path[1] === 'number') value = value[issue.path[1]];
  if (value === undefined) {
    const shown = positional ? '' : metavar(command, name);
    const env = spec && spec.env.length > 0 ? ` (or set ${spec.env.join(' or ')})` : '';
    return `${label}${shown ? ` ${shown}` : ''} is required${env}`;
  }
  const source = fromEnv[key] ? ` (from ${fromEnv[key]})` : '';
  const given = spec?.secret || value === '' ? '' : `, not '${String(value)}'`;
  return `${label}${source} ${mustBe(issue)}${given}`;
}

/** The check that failed, as "must …": the schema's own words where it has them. */
function mustBe(issue: z.core.$ZodIssue): string {
  if (issue.message.startsWith('must ')) return issue.message;
  switch (issue.code) {
    case 'invalid_value':
      return `must be ${orList(issue.values.map(String))}`;
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must have at least ${issue.minimum} characters`;
      return `must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must have at most ${issue.maximum} characters`;
      return `must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'string' ? 'text' : `a ${issue.expected}`}`;
    default:
      return `is not valid (${issue.message})`;
  }
}
