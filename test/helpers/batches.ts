// Setting up apps and batches in a test coordinator, in-process (no API).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../../coordinator/core.js';
import { PRIMES_DIR } from './world.js';

/** A project with the primes example app from its folder; returns the app id. */
export async function addPrimesApp(c: Pick<Core, 'apps'>, projectName = 'primes'): Promise<number> {
  const projectId = await c.apps.createProject({ name: projectName });
  const app = await c.apps.createApp(projectId, { name: 'primes' });
  const files = readdirSync(PRIMES_DIR).filter((f) => f.endsWith('.js')).map((name) => ({ name, bytes: readFileSync(join(PRIMES_DIR, name)) }));
  await c.apps.addVersion(app.id, { files });
  return app.id;
}

/** A batch of these inputs at quorum 2 (unless overridden); returns its id. */
export async function submitInputs(c: Pick<Core, 'submission'>, appId: number, inputs: object[], replication: Record<string, number> = {}): Promise<number> {
  return (await c.submission.submitBatch({
    appId,
    name: `batch of app ${appId}`,
    replication: { minQuorum: 2, targetNresults: 2, fpopsEst: 1e11, ...replication },
    workunits: inputs.map((input) => ({ input: input as Record<string, number> })),
  })).batchId;
}
