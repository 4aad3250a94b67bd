// Option schemas shared by several commands.
import { z } from 'zod';

/** A numeric id given on the command line. */
export const Id = (what: string) => z.coerce.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be a positive number`);

/** A flag without a value, as parseArgs gives it. */
export const Switch = z.boolean().default(false);

/** The help line of --json, its text starting at `column` like the lines around it. */
export const jsonHelp = (column = 26) => `${'  --json'.padEnd(column)}print the API answer as JSON instead of text`;
