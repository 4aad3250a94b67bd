// Who this coordinator instance is, among those sharing a database: the holder named in leases.
// The host and process say where to look in logs and `ps`; the random part keeps a restarted
// process that got the same pid (a container's pid 1) from passing for its dead predecessor.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export function instanceName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}
