// What a background job asks in each transaction that writes: may this instance still write for
// the job? Under a lease it is `Leases.holds` on the transaction's own connection (so the answer
// holds until that transaction ends); a job run by itself, outside any coordinator, is unfenced.
import type { SqlExecutor } from '../store/sql/sql.js';

/** Asked first in the transaction that writes; false: write nothing, and stop the run. */
export type Fence = (tx: SqlExecutor) => Promise<boolean>;

/** One process, no other writer to keep out (a core driven by tests or tools). */
export const UNFENCED: Fence = async () => true;

/** How a fenced chunk of a job went: its key is done, has more, or the fence refused it (nothing written). */
export type Step = 'done' | 'more' | 'fenced';
