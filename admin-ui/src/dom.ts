// The admin UI's DOM helpers: the shared safe builder, plus ids for label/for pairs.
export { h, mount, s, type Child, type Props } from '../../web-common/dom';

let nextId = 0;
/** A document-unique id, for label/for pairs. */
export function uid(prefix = 'f'): string {
  return `${prefix}-${++nextId}`;
}
