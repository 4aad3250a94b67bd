// Building DOM without markup strings: text only ever goes in as text nodes (textContent), so
// project names, nicknames and team names that contain HTML stay inert; no attribute can
// smuggle in inline styles or handlers (the page runs under a strict CSP anyway).

export type Child = Node | string | number | null | undefined | false | readonly Child[];
type AttrValue = string | number | boolean | null | undefined;
export type Props = { [attr: string]: AttrValue | ((ev: Event) => void) };

const FORBIDDEN = new Set(['style', 'innerhtml', 'outerhtml', 'srcdoc']);

function applyProps(el: Element, props: Props | null | undefined): void {
  for (const [key, value] of Object.entries(props ?? {})) {
    const lower = key.toLowerCase();
    if (FORBIDDEN.has(lower)) throw new Error(`h(): "${key}" is not allowed`);
    if (typeof value === 'function') {
      if (!lower.startsWith('on')) throw new Error(`h(): ${key} must not be a function`);
      el.addEventListener(lower.slice(2), value);
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child as readonly Child[]);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** An HTML element with attributes, listeners (`onclick`…) and children (text as text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Sets text only when it changed (keeps selections and screen readers calm). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
