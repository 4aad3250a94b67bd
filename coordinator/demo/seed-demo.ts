// An empty data dir gets a demo project, so a volunteer that connects gets work at once.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { primesFpops, primesInputs } from '../../examples/primes/inputs.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { Store } from '../store/store.js';
import type { Submission } from '../work/submission.js';

const PRIMES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'primes');
export const DEMO_PROJECT = 'demo';

export function seedDemo(
  deps: { store: Store; apps: AppRegistry; submission: Submission },
  workunits: number,
): { batchId: number } | undefined {
  if (workunits === 0 || deps.store.catalog.projectByName(DEMO_PROJECT)) return undefined;
  const projectId = deps.apps.createProject({
    name: DEMO_PROJECT,
    description: 'Counts the primes in ranges of integers: a small real computation to try the grid with.',
  });
  const app = deps.apps.createApp(projectId, { name: 'primes', validation: { mode: 'exact' } });
  const files = readdirSync(PRIMES_DIR)
    .filter((name) => name.endsWith('.js'))
    .map((name) => ({ name, bytes: readFileSync(join(PRIMES_DIR, name)) }));
  deps.apps.addVersion(app.id, { entry: 'main.js', platform: 'any', files });
  const inputs = primesInputs(workunits);
  const { batchId } = deps.submission.submitBatch({
    appId: app.id,
    name: 'demo: primes below 1e6 + ranges',
    clientKey: 'demo-seed',
    replication: { minQuorum: 2, targetNresults: 2, delayBoundMs: 3600_000 },
    workunits: inputs.map((input) => ({ input: { ...input }, replication: { fpopsEst: primesFpops(input) } })),
  });
  return { batchId };
}
