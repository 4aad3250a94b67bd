// Readiness, apart from liveness (/healthz: the process answers). /readyz says whether this
// coordinator should be sent traffic: its database answers with every migration this code knows
// applied (and none newer), its key loaded, and not shutting down. A load balancer polls it; on
// SIGTERM it answers 503 for --shutdown-drain-ms before the coordinator closes its connections.
import type { Request, Response } from 'express';

export interface Readiness {
  /** The database answers. */
  database: boolean;
  /** Its schema is the newest this coordinator knows. */
  migrations: boolean;
  /** The coordinator's signing key is loaded. */
  key: boolean;
  /** Not shutting down. */
  accepting: boolean;
}

export interface ReadinessReport {
  checks: Readiness;
  /** The schema version the database has (null: it did not answer) and the one this code knows. */
  schemaVersion: { database: number | null; coordinator: number };
}

export function readinessHandler(check: () => Promise<ReadinessReport>) {
  return async (_req: Request, res: Response): Promise<void> => {
    const { checks, schemaVersion } = await check();
    const ready = Object.values(checks).every(Boolean);
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ ready, checks, schemaVersion });
  };
}

/** The report from what was read: `applied` undefined when the database did not answer. */
export function readiness(applied: number | undefined, known: number, key: boolean, accepting: boolean): ReadinessReport {
  return {
    checks: { database: applied !== undefined, migrations: applied === known, key, accepting },
    schemaVersion: { database: applied ?? null, coordinator: known },
  };
}
