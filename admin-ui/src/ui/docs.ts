// A paragraph of the project's docs shown in the UI (the coordinator does not serve docs/), read
// from docs/api.md when it is built, so it never drifts from them. The docs are a chunk of
// their own, loaded when a reader opens the disclosure.
import { h, mount, type Child } from '../dom';
import { loading } from './states';

/** Markdown's inline code and bold as elements, links as their text; everything as text nodes. */
function inline(text: string): Child[] {
  return text.split(/(`[^`]+`|\*\*[^*]+\*\*|\[[^\]]+\]\([^)]*\))/g).map((part) => {
    if (part.startsWith('`') && part.endsWith('`') && part.length > 1) return h('code', null, part.slice(1, -1));
    if (part.startsWith('**') && part.endsWith('**') && part.length > 3) return h('strong', null, part.slice(2, -2));
    const link = /^\[([^\]]+)\]\([^)]*\)$/.exec(part);
    if (link) return link[1]!;
    return part.replace(/\*([^*]+)\*/g, '$1');
  });
}

/** The paragraph of `markdown` that starts with `start`, or null. */
export function paragraphOf(markdown: string, start: string): string | null {
  const from = markdown.indexOf(`\n${start}`);
  if (from < 0) return null;
  const end = markdown.indexOf('\n\n', from + 1);
  return markdown.slice(from + 1, end < 0 ? undefined : end).replace(/\s*\n\s*/g, ' ');
}

/** A disclosure that shows the paragraph of docs/api.md starting with `start` when opened. */
export function apiDocsExcerpt(summary: string, start: string, where: string): HTMLElement {
  const body = h('div', { class: 'docs-excerpt' });
  const details = h('details', { class: 'docs' }, h('summary', null, summary), body);
  let loaded = false;
  details.addEventListener('toggle', () => {
    if (!details.open || loaded) return;
    loaded = true;
    mount(body, loading('Loading the docs…'));
    void import('../../../docs/api.md?raw').then(
      ({ default: text }) => {
        const paragraph = paragraphOf(text, start);
        mount(body, paragraph ? h('p', null, inline(paragraph)) : null, h('p', { class: 'muted small' }, `From ${where} in the repository.`));
      },
      () => mount(body, h('p', { class: 'muted' }, `See ${where} in the repository.`)),
    );
  });
  return details;
}
