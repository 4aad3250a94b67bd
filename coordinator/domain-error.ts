// A refusal the person who asked can act on: a message for them and how the API answers it.
// Each area names its own subclass (so callers and tests can tell where it came from); the API
// edge maps any of them onto a status without knowing them all.
export type DomainErrorCode = 'bad_request' | 'conflict' | 'not_found';

export class DomainError extends Error {
  constructor(
    message: string,
    readonly code: DomainErrorCode = 'bad_request',
  ) {
    super(message);
  }
}
