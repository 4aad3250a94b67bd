// Options of a program from command-line flags, then environment variables, then defaults,
// validated by one schema: the same rules for the coordinator and the volunteer daemon.
import { parseArgs } from 'node:util';
import { z } from 'zod';

export interface FlagSpec {
  /** Environment variables read when the flag is absent, first match wins. */
  env: readonly string[];
  /** A flag without a value (e.g. --help). Others take a string the schema coerces. */
  boolean?: boolean;
  /** A flag that may be given several times: the schema gets every value, as an array. */
  multiple?: boolean;
}

export type Loaded<T> = { options: T } | { message: string; exitCode: number };

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Returns the options, or a message for the user (bad flags, --help) and an exit code. */
export function loadOptions<S extends z.ZodType>(
  schema: S,
  flags: Record<string, FlagSpec>,
  usage: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Loaded<z.infer<S>> {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, { type: v.boolean ? 'boolean' : 'string', multiple: v.multiple === true } as const]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true }).values;
  } catch (e) {
    return { message: `${(e as Error).message}\n\n${usage}`, exitCode: 2 };
  }
  if (values.help) return { message: usage, exitCode: 0 };
  const raw: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(flags)) {
    const value = values[flag] ?? spec.env.map((name) => env[name]).find((v) => v !== undefined);
    if (value !== undefined) raw[camel(flag)] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { message: `invalid options:\n${z.prettifyError(parsed.error)}\n\n${usage}`, exitCode: 2 };
  return { options: parsed.data };
}
