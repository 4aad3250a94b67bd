// What the status line says while the page has fewer tasks than it asked for: the quota the
// coordinator named (tasks.request `limited`, in volunteer-core/quota-limit.ts's words, as the
// daemon says it), or plain "no work". No DOM here, so that a unit test can read it.

/** The status while connected with nothing to compute. */
export function waitingLine(limited: string | undefined): string {
  return limited ? `Connected. No more tasks for now: ${limited}.` : 'Connected. There is no work right now; checking again shortly.';
}

/** Said after "Computing…" when a quota keeps more tasks back: else idle cores look like a fault. */
export function computingNote(limited: string | undefined): string {
  return limited ? ` More tasks later: ${limited}.` : '';
}
