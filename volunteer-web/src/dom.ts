// The volunteer page's DOM helpers: the shared safe builder, plus text updates that keep
// selections and screen readers calm.
export { h, mount, s, type Child, type Props } from '../../web-common/dom.js';

/** Sets text only when it changed. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
