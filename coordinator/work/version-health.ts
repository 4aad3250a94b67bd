// When an app version is broken: it fails to load wherever it runs. Pure.
import type { VersionFailures } from '../store/catalog.js';

/** Load failures in all, and distinct proven hosts (and users) they came from, that break a version. */
export const BROKEN_AFTER = { failures: 3, hosts: 2 };

/**
 * Why a version is broken, if it is: it never produced a result, and it failed to load at least
 * `BROKEN_AFTER.failures` times on at least `BROKEN_AFTER.hosts` hosts of as many users, each of
 * which has computed something valid elsewhere. Counting only such hosts keeps throwaway keys
 * from breaking a researcher's version by claiming it fails.
 */
export function brokenReason(f: VersionFailures): string | undefined {
  if (f.succeeded || f.loadFailures < BROKEN_AFTER.failures) return undefined;
  if (Math.min(f.provenHosts, f.provenUsers) < BROKEN_AFTER.hosts) return undefined;
  return `it failed to load on every host that ran it (${f.loadFailures} times on ${f.provenHosts} hosts) and never produced a result: ${f.lastMessage ?? 'no message'}`;
}
