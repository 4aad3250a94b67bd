// What a host is told of a result it reported (results.verdicts, results.judged; docs/protocol.md).
// The rule keeps checks secret (docs/protocol.md §8): a verdict says only what the host's signed
// receipts say, or will say, and one thing more — that a result of a host whose results counted
// lost its quorum vote. A result found wrong by a sentinel or a check catches its host and is never
// told; nothing a caught host reports later is judged, as far as it can tell (its results are
// forfeited: pending for ever, as they would be without verdicts, since its credit stops); and a
// verdict once told never goes back, which would say that a partner was caught. Pure.
import type { ResultVerdict } from '../../protocol/messages.js';
import type { HostResultFacts } from '../store/work-store.js';

/** The verdict a host is told of one of its tasks; `facts` undefined: no task of this host's has that id. */
export function verdictOf(facts: Omit<HostResultFacts, 'taskId'> | undefined): ResultVerdict {
  // Not its task, or no task at all: the same answer, so that ids cannot be probed.
  if (!facts) return 'unknown';
  if (facts.outcome === 'client_error') return 'error';
  // No result stored: in progress, or over without one (aborted, given back, no reply).
  if (facts.outcome !== 'success') return 'unknown';
  // Its receipts say so already: a revocation took its grant back (its host, or one it agreed
  // with, was caught afterwards; or it was outvoted once its work unit was judged again).
  if (facts.revoked) return 'invalid';
  // Credited: its receipt says so. Valid with no grant yet (a sentinel's right answer judged on
  // arrival, waiting for a quorum of right answers) is pending, as a regular task's would be; and
  // a grant stands while its work unit is judged again after a caught partner's results are taken out.
  if (facts.granted) return 'valid';
  if (facts.lostQuorum) return 'invalid';
  // Waiting for its quorum, forfeited (its host is caught), found wrong by a check, or of a work
  // unit that failed or was cancelled: nothing to tell.
  return 'pending';
}
