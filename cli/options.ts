// Option schemas shared by the commands. Each says what it wants as "must …", which
// cli/command.ts puts after the flag's name and before the value given.
import { z } from 'zod';
import { orList } from './format.js';

/** A number from the command line that passes `ok`, or the issue "must be `what`". */
function numberOption(what: string, ok: (n: number) => boolean) {
  return z.string().transform((text, c) => {
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (ok(n)) return n;
    c.addIssue({ code: 'custom', message: `must be ${what}` });
    return z.NEVER;
  });
}

/** A whole number of at least `min` (and at most `max`). */
export const WholeNumber = (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
  numberOption(
    min === Number.MIN_SAFE_INTEGER ? 'a whole number' : max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`,
    (n) => Number.isSafeInteger(n) && n >= min && n <= max,
  );

/** A number (decimals allowed): `above` excludes its bound, `atLeast` includes it. */
export const Decimal = (bound: { above: number } | { atLeast: number; atMost?: number }, unit = '') => {
  const what =
    'above' in bound
      ? `a number${unit} > ${bound.above}`
      : bound.atMost === undefined
        ? `a number${unit} ≥ ${bound.atLeast}`
        : `a number${unit} from ${bound.atLeast} to ${bound.atMost.toLocaleString('en-US')}`;
  return numberOption(what, (n) =>
    Number.isFinite(n) && ('above' in bound ? n > bound.above : n >= bound.atLeast && (bound.atMost === undefined || n <= bound.atMost)),
  );
};

/** The id of a project, app or batch: "BATCH must be a batch id (a whole number ≥ 1), not 'x'". */
export const Id = (noun: 'project' | 'app' | 'batch') =>
  numberOption(`${noun === 'app' ? 'an' : 'a'} ${noun} id (a whole number ≥ 1)`, (n) => Number.isSafeInteger(n) && n >= 1);

/** One of a few words. */
export const Choice = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be ${orList(values)}` });

/** Text that is not empty (at most `max` characters). */
export const Text = (max?: number) => {
  const text = z.string().min(1, 'must not be empty');
  return max === undefined ? text : text.max(max, `must have at most ${max} characters`);
};

/** A flag without a value, as parseArgs gives it. */
export const Switch = z.boolean().default(false);

/** The help line of --json, its text starting at `column` like the lines around it. */
export const jsonHelp = (column = 26) => `${'  --json'.padEnd(column)}print the API answer as JSON instead of text`;
