// Path and query parameters shared by the API's routes.
import { z } from 'zod';

/** A row id in a path: a positive integer. */
export const IdParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
