// Dialogs (native <dialog>: focus trap and Escape for free) and toasts.
import { h, type Child } from '../dom';

export interface DialogOptions {
  title: string;
  body: Child;
  confirmLabel: string;
  cancelLabel?: string;
  /** 'danger' for what cannot be undone. */
  tone?: 'danger' | 'primary';
  /** Checked on confirm: a message keeps the dialog open and is shown in it. */
  validate?: () => string | null;
}

/** Resolves true when confirmed; the caller reads any controls it put in `body` afterwards. */
export function openDialog(options: DialogOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const problem = h('p', { class: 'dialog-problem', role: 'alert', hidden: true });
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'dialog-title' }, options.title),
      h('div', { class: 'dialog-body' }, options.body),
      problem,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'submit', value: 'cancel', class: 'btn', formnovalidate: true }, options.cancelLabel ?? 'Keep it'),
        h('button', { type: 'submit', value: 'confirm', class: options.tone === 'primary' ? 'btn btn-primary' : 'btn btn-danger' }, options.confirmLabel),
      ),
    );
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' }, form);
    form.addEventListener('change', () => (problem.hidden = true));
    form.addEventListener('submit', (e) => {
      if ((e.submitter as HTMLButtonElement | null)?.value !== 'confirm') return;
      const message = options.validate?.() ?? null;
      problem.hidden = message === null;
      problem.textContent = message ?? '';
      if (message !== null) e.preventDefault();
    });
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function confirmDialog(title: string, body: Child, confirmLabel: string, danger = true): Promise<boolean> {
  return openDialog({ title, body, confirmLabel, tone: danger ? 'danger' : 'primary' });
}

let toastHost: HTMLElement | null = null;

export function toast(message: string, kind: 'success' | 'error' | 'info' = 'info'): void {
  if (!toastHost) {
    toastHost = h('div', { class: 'toasts', 'aria-live': 'polite' });
    document.body.append(toastHost);
  }
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  toastHost.append(el);
  setTimeout(() => el.classList.add('toast-leave'), 3_500);
  setTimeout(() => el.remove(), 4_000);
}
