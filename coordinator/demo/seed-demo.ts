// An empty data dir gets a demo project with both example apps (plain JavaScript and
// WebAssembly), so a volunteer that connects gets work at once.
import { EXAMPLES, type ExampleApp } from '../../examples/catalog.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { Store } from '../store/store.js';
import type { BatchSpec, Submission } from '../work/submission.js';

type JsonInput = BatchSpec['workunits'][number]['input'];

export const DEMO_PROJECT = 'demo';
/** The WebAssembly demo is a fixed picture: its strips, at most this many. */
const MANDELBROT_STRIPS = 48;

/** One batch the seed created, as the coordinator logs it. */
export interface SeededBatch {
  batchId: number;
  app: string;
  workunits: number;
}

/**
 * `workunits` is the size of the primes batch; the Mandelbrot batch has at most
 * MANDELBROT_STRIPS. The answer counts what was really created, batch by batch.
 */
export async function seedDemo(
  deps: { store: Store; apps: AppRegistry; submission: Submission },
  workunits: number,
): Promise<{ batches: SeededBatch[]; workunits: number } | undefined> {
  if (workunits === 0 || (await deps.store.catalog.projectByName(DEMO_PROJECT))) return undefined;
  // Read everything before writing anything: the seed lands whole or not at all.
  const primesFiles = await EXAMPLES.primes.files();
  const mandelbrotFiles = await EXAMPLES.mandelbrot.files();
  return deps.store.transaction(async (tx) => {
    const now = Date.now();
    const projectId = await deps.apps.createProject(
      {
        name: DEMO_PROJECT,
        description: 'Example computations to try the grid with: primes in ranges of integers (JavaScript) and the Mandelbrot set (WebAssembly).',
      },
      null,
      now,
      tx,
    );
    const seed = async <I extends object>(example: ExampleApp<I>, files: typeof primesFiles, count: number): Promise<SeededBatch> => {
      const app = await deps.apps.createApp(projectId, { name: example.name, validation: { mode: 'exact' } }, now, tx);
      await deps.apps.addVersion(app.id, { entry: 'main.js', platform: 'any', requirements: example.requirements, files }, now, tx);
      const inputs = example.inputs(count);
      const submitted = await deps.submission.submitBatch({
        appId: app.id,
        name: `demo: ${example.name}`,
        clientKey: `demo-seed-${example.name}`,
        replication: { minQuorum: 2, targetNresults: 2, delayBoundMs: 3600_000 },
        // Example inputs are plain objects of numbers: JSON by construction.
        workunits: inputs.map((input) => ({ input: { ...input } as JsonInput, replication: { fpopsEst: example.fpops(input) } })),
      }, now, tx);
      return { batchId: submitted.batchId, app: example.name, workunits: submitted.workunits };
    };
    const batches = [await seed(EXAMPLES.primes, primesFiles, workunits), await seed(EXAMPLES.mandelbrot, mandelbrotFiles, Math.min(workunits, MANDELBROT_STRIPS))];
    return { batches, workunits: batches.reduce((sum, b) => sum + b.workunits, 0) };
  });
}
