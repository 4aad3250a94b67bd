/**
 * The most a token bucket can have let through since `since` (a Date.now()): its burst, what
 * refilled since, and one for rounding. Upper bounds built on it follow the time a test really
 * took, so a slow machine cannot fail them.
 */
export const mostAllowed = (burst: number, perSecond: number, since: number): number =>
  burst + Math.ceil(((Date.now() - since) / 1000) * perSecond) + 1;
