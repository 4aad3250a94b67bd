// Free loopback ports, for servers that must know their ports before they start (a cluster's
// instances list each other). Another process may take one a moment later: rare on loopback.
import { createServer, type Server } from 'node:net';

/** `n` distinct ports free now: all held at once, then released. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<Server>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
