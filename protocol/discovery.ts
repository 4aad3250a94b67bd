// The discovery document (GET /.well-known/volunteer-grid.json, docs/protocol.md §2): what a
// coordinator says of itself before a client connects. Clients read it with WellKnownSchema,
// which checks only the fields they use and lets others pass, so that fields can be added.
import { z } from 'zod';
import { Hex32 } from './messages.js';

export const WELL_KNOWN_PATH = '/.well-known/volunteer-grid.json';

/** The most instance URLs a document lists. */
export const MAX_INSTANCES = 64;

/**
 * An instance's public URL as the document lists it: an http(s) origin, `scheme://host[:port]`
 * (the Socket.IO namespace and every HTTP path hang off it, so there is no room for a path).
 * The origin when `text` is one, else why not.
 */
export function instanceOrigin(text: string): { origin: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return { error: `"${text}" is not a URL; give scheme://host[:port], e.g. https://grid1.example.org` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `"${text}" is not http:// or https://` };
  if (url.username !== '' || url.password !== '') return { error: `"${text}" carries a user name or password; an instance URL is public` };
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return { error: `"${text}" has a path, query or fragment; give the instance's origin only (scheme://host[:port])` };
  }
  return { origin: url.origin };
}

const InstanceUrl = z.string().transform((text, ctx) => {
  const parsed = instanceOrigin(text);
  if ('origin' in parsed) return parsed.origin;
  ctx.addIssue({ code: 'custom', message: parsed.error });
  return z.NEVER;
});

/** What a client reads of the document. */
export const WellKnownSchema = z.object({
  coordinatorKey: Hex32,
  /** Every instance of this coordinator, when it runs several: absent means just this one. */
  instances: z.array(InstanceUrl).min(1).max(MAX_INSTANCES).optional(),
});
export type WellKnownView = z.infer<typeof WellKnownSchema>;

/** The document as the coordinator serves it. */
export interface WellKnown {
  software: 'volunteer-grid';
  protocol: number;
  coordinatorKey: string;
  volunteerNamespace: string;
  limits: { maxMessageBytes: number; maxFileBytes: number; maxOutputBytes: number };
  instances?: string[];
}
