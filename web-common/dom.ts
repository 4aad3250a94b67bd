// Building DOM without markup strings, for both pages (admin UI and volunteer page): text only
// ever goes in as text nodes, so names and outputs that contain HTML stay inert, and no
// attribute can smuggle in inline styles, inline handlers or javascript: URLs (the pages run
// under a strict CSP anyway).

export type Child = Node | string | number | null | undefined | false | readonly Child[];

type AttrValue = string | number | boolean | null | undefined;
type Handlers = { [K in keyof HTMLElementEventMap as `on${K}`]?: (ev: HTMLElementEventMap[K]) => void };
export type Props = Handlers & { [attr: string]: AttrValue | ((ev: never) => void) };

const FORBIDDEN = new Set(['style', 'innerhtml', 'outerhtml', 'srcdoc']);

function applyProps(el: Element, props: Props | null | undefined): void {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    const lower = key.toLowerCase();
    if (FORBIDDEN.has(lower)) throw new Error(`h(): "${key}" is not allowed`);
    if (lower.startsWith('on')) {
      if (typeof value !== 'function') throw new Error(`h(): ${key} must be a function`);
      el.addEventListener(lower.slice(2), value as EventListener);
      continue;
    }
    if (typeof value === 'function') throw new Error(`h(): ${key} must not be a function`);
    if (value === false || value === null || value === undefined) continue;
    if ((lower === 'href' || lower === 'src' || lower === 'action') && /^\s*javascript:/i.test(String(value))) {
      throw new Error(`h(): a javascript: URL in ${key}`);
    }
    if (lower === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
    else if (lower === 'checked' && el instanceof HTMLInputElement) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
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

/** An SVG element, same rules as h(). */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function mount(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}
