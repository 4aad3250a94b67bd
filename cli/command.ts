// One command of the CLI: its words, help text, flags, positional arguments and one schema
// that validates them all. Parsing reuses common/cli-options.ts (flags, then environment
// variables, then defaults); positional arguments become options named after them.
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { loadOptions, type FlagSpec, type Loaded } from '../common/cli-options.js';
import type { Context } from './context.js';

export interface Command<S extends z.ZodType = z.ZodType> {
  /** The words that select it, e.g. ['projects', 'create']. */
  words: readonly string[];
  /** One line for the top-level help. */
  summary: string;
  /** The full --help text. */
  usage: string;
  /** Names of the positional arguments, in order; each is a key of the schema. */
  positionals?: readonly string[];
  flags: Record<string, FlagSpec>;
  schema: S;
  /** Resolves to the exit code; throws Failure for exit 1. */
  run(options: z.infer<S>, ctx: Context): Promise<number>;
}

/** Erases a command's option type so commands of every shape fit in one list. */
export function defineCommand<S extends z.ZodType>(command: Command<S>): Command {
  return command as unknown as Command;
}

/** A flag without an environment variable. */
export const flag = (boolean = false): FlagSpec => ({ env: [], ...(boolean ? { boolean } : {}) });

/** The command's options from its arguments (after the command words), or a message and an exit code. */
export function parseCommandLine(command: Command, argv: string[], env: NodeJS.ProcessEnv): Loaded<unknown> {
  const positionals = command.positionals ?? [];
  const types = Object.fromEntries(
    Object.entries(command.flags).map(([name, spec]) => [name, { type: spec.boolean ? 'boolean' : 'string' } as const]),
  );
  let parsed: ReturnType<typeof parseArgs<{ options: typeof types; allowPositionals: true; strict: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: { ...types, help: { type: 'boolean' } }, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    return usageError(command, (e as Error).message);
  }
  if (parsed.values.help) return { message: command.usage, exitCode: 0 };
  const given = parsed.positionals;
  if (given.length < positionals.length) {
    return usageError(command, `missing ${positionals.slice(given.length).map((p) => p.toUpperCase()).join(' ')}`);
  }
  if (given.length > positionals.length) return usageError(command, `unexpected argument '${given[positionals.length]}'`);

  // Hand the flags back to loadOptions as --name=value, and the positionals as flags too.
  const flagArgs: string[] = [];
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    flagArgs.push(token.value === undefined ? `--${token.name}` : `--${token.name}=${token.value}`);
  }
  positionals.forEach((name, i) => flagArgs.push(`--${name}=${given[i]}`));
  const allFlags: Record<string, FlagSpec> = { ...command.flags, ...Object.fromEntries(positionals.map((p) => [p, { env: [] }])) };
  return loadOptions(command.schema, allFlags, command.usage, flagArgs, env);
}

function usageError(command: Command, message: string): Loaded<never> {
  return { message: `${message}\n\n${command.usage}`, exitCode: 2 };
}
