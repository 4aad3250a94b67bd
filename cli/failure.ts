// What a command reports when it cannot do its job: a one-line message for stderr and exit 1.
// Commands throw it and only cli/main.ts catches it, so every failure ends the same way.

export class Failure extends Error {
  override readonly name = 'Failure';

  constructor(
    message: string,
    /** The HTTP status when the coordinator refused a request. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The one-line reason of any thrown value; for a failed fetch, the network error under it. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  if (e.message === 'fetch failed' && cause instanceof Error) {
    return cause.message || ((cause as NodeJS.ErrnoException).code ?? 'network error');
  }
  return e.message;
}

/** Why a file operation failed, in words: "no such file or folder", not "ENOENT: …, open '…'". */
export function fsReason(e: unknown): string {
  switch ((e as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a folder';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'EROFS':
      return 'the file system is read-only';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many files are open';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return describeError(e);
  }
}
