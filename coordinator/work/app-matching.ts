// Which app version a host can run, and which class of platform it belongs to.
import { kindFeature, manifestKind } from '../../protocol/app-kind.js';
import type { Capabilities, Platform } from '../../protocol/messages.js';
import type { AppVersionRecord } from '../store/catalog.js';

/**
 * Hosts whose arithmetic may differ are told apart for homogeneous redundancy: Node, and each
 * browser engine. All replicas of a work unit under homogeneous redundancy go to one class.
 */
export function platformClass(platform: Platform): string {
  return platform.kind === 'node' ? 'node' : `browser:${(platform.engine ?? 'unknown').toLowerCase()}`;
}

export function hostMeets(platformKind: Platform['kind'], caps: Capabilities, v: AppVersionRecord): boolean {
  if (v.platform !== 'any' && v.platform !== platformKind) return false;
  const req = v.requirements;
  if (req.wasm && !caps.wasm) return false;
  if (req.minMemoryMb !== undefined && (caps.memoryMb ?? 0) < req.minMemoryMb) return false;
  if (req.features?.some((f) => !caps.features?.includes(f))) return false;
  // A kind beyond JavaScript goes only to hosts that say they run it (older clients do not).
  const kind = manifestKind(v.manifest);
  if (kind !== 'javascript' && !caps.features?.includes(kindFeature(kind))) return false;
  return true;
}

/** A version tasks may be sent with: not broken, not retired. */
export function usable(v: AppVersionRecord): boolean {
  return v.broken === null && v.retiredAt === null;
}

/**
 * The newest version of an app that the host can run and that is not retired (versions come
 * newest first), unless it is broken: then none, rather than an older one the researcher meant
 * to replace. (Retiring a version is how a researcher goes back to an older one.)
 */
export function pickVersion(versions: readonly AppVersionRecord[], platformKind: Platform['kind'], caps: Capabilities): AppVersionRecord | undefined {
  const newest = versions.find((v) => v.retiredAt === null && hostMeets(platformKind, caps, v));
  return newest && usable(newest) ? newest : undefined;
}
