// A confirmation dialog (native <dialog>: focus trap and Escape for free) and toasts.
import { h, type Child } from '../dom';

export function confirmDialog(title: string, body: Child, confirmLabel: string, danger = true): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, title),
        h('div', { class: 'dialog-body' }, body),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'submit', value: 'cancel', class: 'btn' }, 'Keep it'),
          h('button', { type: 'submit', value: 'confirm', class: danger ? 'btn btn-danger' : 'btn btn-primary' }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
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
