// Form fields that always carry a <label>, and small helpers to read them.
import { h, uid, type Child, type Props } from '../dom';

export interface FieldOptions {
  hint?: Child;
  wide?: boolean;
}

/** A label above its control; the control gets an id for the label's `for`. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, options: FieldOptions = {}): HTMLElement {
  if (!control.id) control.id = uid();
  const hintId = options.hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: options.wide ? 'field field-wide' : 'field' },
    h('label', { for: control.id }, label),
    control,
    options.hint ? h('small', { id: hintId, class: 'hint' }, options.hint) : null,
  );
}

export function input(props: Props = {}): HTMLInputElement {
  return h('input', { type: 'text', ...props });
}

export function select(options: readonly (readonly [value: string, label: string])[], props: Props = {}): HTMLSelectElement {
  return h('select', props, options.map(([value, label]) => h('option', { value }, label)));
}

export function checkbox(label: string, props: Props = {}): { el: HTMLElement; input: HTMLInputElement } {
  const box = h('input', { type: 'checkbox', id: uid('c'), ...props });
  return { el: h('div', { class: 'check' }, box, h('label', { for: box.id }, label)), input: box };
}

/** A submit button that shows it is busy while `work` runs. */
export async function busy<T>(button: HTMLButtonElement, busyText: string, work: () => Promise<T>): Promise<T> {
  const text = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  button.classList.add('is-busy');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = text;
    button.classList.remove('is-busy');
  }
}

/** Reads a number field; null when empty, NaN when not a number. */
export function numberValue(el: HTMLInputElement): number | null {
  const t = el.value.trim();
  return t === '' ? null : Number(t);
}
