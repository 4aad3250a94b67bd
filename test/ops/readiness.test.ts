// Liveness and readiness apart: /healthz says the process answers; /readyz that it should get
// traffic (database open and migrated, key loaded, not shutting down).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

let c: TestCoordinator;
beforeAll(async () => {
  c = await startTestCoordinator();
});
afterAll(() => c.dispose());

describe('/readyz', () => {
  it('is ready once the database is open and migrated and the key loaded, apart from /healthz', async () => {
    const live = await fetch(`${c.url}/healthz`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${c.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({ ready: true, checks: { database: true, migrations: true, key: true, accepting: true } });
  });
});
