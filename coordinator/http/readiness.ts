// Readiness, apart from liveness (/healthz: the process answers). /readyz says whether this
// coordinator should be sent traffic: its database open with every migration applied, its key
// loaded, and not shutting down. A load balancer or systemd's watchdog script polls it.
import type { Request, Response } from 'express';

export interface Readiness {
  /** The database is open (its migrations ran before the coordinator started listening). */
  database: boolean;
  migrations: boolean;
  /** The coordinator's signing key is loaded. */
  key: boolean;
  /** Not shutting down. */
  accepting: boolean;
}

export function readinessHandler(check: () => Readiness) {
  return (_req: Request, res: Response): void => {
    const checks = check();
    const ready = Object.values(checks).every(Boolean);
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ ready, checks });
  };
}
