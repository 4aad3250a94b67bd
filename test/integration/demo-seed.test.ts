// The demo an empty data dir gets: the log says what was seeded, batch by batch, as the
// database holds it (it once said "workunits":500 for 548).
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

let coordinator: TestCoordinator | undefined;
afterEach(async () => {
  await coordinator?.dispose();
  coordinator = undefined;
});

it('logs the work units it really seeded, in all and per batch', async () => {
  const lines: Record<string, unknown>[] = [];
  coordinator = await startTestCoordinator({ demoWorkunits: 60 }, createLogger('info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>)));
  const inDb = coordinator.store.db
    .prepare('SELECT b.id AS batchId, a.name AS app, COUNT(w.id) AS workunits FROM batches b JOIN apps a ON a.id = b.app_id JOIN workunits w ON w.batch_id = b.id GROUP BY b.id ORDER BY b.id')
    .all() as { batchId: number; app: string; workunits: number }[];
  expect(inDb.map((b) => [b.app, b.workunits])).toEqual([['primes', 60], ['mandelbrot', 48]]);

  const seeded = lines.filter((l) => l.msg === 'seeded demo project');
  expect(seeded).toHaveLength(1);
  expect(seeded[0]).toMatchObject({ project: 'demo', workunits: 108, batches: inDb });
});
