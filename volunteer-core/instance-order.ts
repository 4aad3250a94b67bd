// Which coordinator instance a host talks to, and where it goes when that one fails, when the
// discovery document lists several (docs/protocol.md §2). Rendezvous (highest-random-weight)
// hashing of the host key: each host ranks every URL by SHA-256(hostKey + "\n" + url), highest
// first. Hosts spread evenly over the instances with no coordination; a host's ranking is its
// failover order; and an instance removed (or dead) moves only the hosts that ranked it first,
// each to its own second choice, spread evenly over the rest. Pure.
import { utf8 } from '../protocol/bytes.js';
import { sha256Hex } from '../protocol/hash.js';

/** The URLs ranked for this host, first choice first; duplicates once. */
export function instanceOrder(hostKey: string, urls: readonly string[]): string[] {
  const ranked = [...new Set(urls)].map((url) => ({ url, weight: sha256Hex(utf8(`${hostKey}\n${url}`)) }));
  // Hex digests of one length compare as the numbers they are; the URL breaks a tie (there are none in practice).
  ranked.sort((a, b) => (a.weight !== b.weight ? (a.weight > b.weight ? -1 : 1) : a.url < b.url ? -1 : 1));
  return ranked.map((r) => r.url);
}

/**
 * The order a host tries instances in. With a list from the discovery document: the listed
 * instances ranked for this host, then the URLs it was given that the list leaves out (a load
 * balancer's, say) as a last resort, in the order given. Without one: the URLs it was given,
 * ranked.
 */
export function connectionOrder(hostKey: string, given: readonly string[], listed: readonly string[] | undefined): string[] {
  if (listed === undefined || listed.length === 0) return instanceOrder(hostKey, given);
  const ranked = instanceOrder(hostKey, listed);
  return [...ranked, ...[...new Set(given)].filter((url) => !ranked.includes(url))];
}
