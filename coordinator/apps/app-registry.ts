// Projects, apps and app versions: content-addressed files, a manifest, a coordinator signature.
import { z } from 'zod';
import { jsonHash } from '../../protocol/hash.js';
import { MAX_APP_FILES, MAX_FILE_BYTES } from '../../protocol/limits.js';
import { defaultEntry, kindOfEntry } from '../../protocol/app-kind.js';
import { FileName, type AppManifest } from '../../protocol/messages.js';
import type { BlobStore, Incoming } from '../files/blob-store.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { AppVersionRecord, ProjectRecord, Requirements, VersionPlatform } from '../store/catalog.js';
import type { Store, Tx } from '../store/store.js';
import { ValidationSchema, type AppPolicy } from '../work/model.js';
import { versionProblem } from './version-check.js';
import { DomainError } from '../domain-error.js';

export const ProjectSpecSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(5000).default(''),
});

export const ProjectUpdateSchema = z.strictObject({
  name: ProjectSpecSchema.shape.name.optional(),
  description: z.string().max(5000).optional(),
  status: z.enum(['active', 'paused']).optional(),
});

export const AppSpecSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  validation: ValidationSchema.default({ mode: 'exact' }),
  homogeneousRedundancy: z.boolean().default(false),
  adaptiveReplication: z.boolean().default(false),
});

export const RequirementsSchema = z.strictObject({
  wasm: z.boolean().optional(),
  minMemoryMb: z.number().int().positive().optional(),
  features: z.array(z.string().min(1).max(32)).max(32).optional(),
});

export interface AppFileUpload {
  name: string;
  bytes: Uint8Array;
}

export class AppRegistry {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly key: CoordinatorKey,
  ) {}

  async createProject(spec: z.input<typeof ProjectSpecSchema>, ownerId: number | null = null, now = Date.now(), within?: Tx): Promise<number> {
    const p = ProjectSpecSchema.parse(spec);
    return await this.store.within(within, async (tx) => {
      if (await tx.catalog.projectByName(p.name)) throw new RegistryError(`a project named "${p.name}" already exists`, 'conflict');
      return await tx.catalog.insertProject({ name: p.name, description: p.description, ownerId }, now);
    });
  }

  async updateProject(id: number, change: z.input<typeof ProjectUpdateSchema>): Promise<ProjectRecord> {
    const c = ProjectUpdateSchema.parse(change);
    return await this.store.transaction(async (tx) => {
      const p = await tx.catalog.projectById(id);
      if (!p) throw new RegistryError(`project ${id} does not exist`, 'not_found');
      if (c.name !== undefined && c.name !== p.name && (await tx.catalog.projectByName(c.name))) {
        throw new RegistryError(`a project named "${c.name}" already exists`, 'conflict');
      }
      await tx.catalog.updateProject({ ...p, ...c });
      return (await tx.catalog.projectById(id))!;
    });
  }

  async createApp(projectId: number, spec: z.input<typeof AppSpecSchema>, now = Date.now(), within?: Tx): Promise<AppPolicy> {
    const a = AppSpecSchema.parse(spec);
    return await this.store.within(within, async (tx) => {
      if (!(await tx.catalog.projectById(projectId))) throw new RegistryError(`project ${projectId} does not exist`, 'not_found');
      if (await tx.catalog.appByName(projectId, a.name)) throw new RegistryError(`the project already has an app named "${a.name}"`, 'conflict');
      const id = await tx.catalog.insertApp({ projectId, ...a }, now);
      return { id, projectId, ...a };
    });
  }

  /**
   * Stores the files by hash, then records and signs the manifest. The bundle hash (SHA-256
   * of the manifest's canonical JSON) names exactly this code; tasks carry it.
   */
  async addVersion(
    appId: number,
    v: { entry?: string; platform?: VersionPlatform; requirements?: Requirements; files: AppFileUpload[] },
    now = Date.now(),
    within?: Tx,
  ): Promise<AppVersionRecord> {
    if (!(await (within ?? this.store).catalog.appById(appId))) throw new RegistryError(`app ${appId} does not exist`, 'not_found');
    const entry = v.entry ?? defaultEntry(v.files.map((f) => f.name));
    if (v.files.length === 0 || v.files.length > MAX_APP_FILES) throw new RegistryError(`an app version has 1 to ${MAX_APP_FILES} files`);
    const names = new Set<string>();
    for (const f of v.files) {
      if (!FileName.safeParse(f.name).success) throw new RegistryError(`"${f.name}" is not an allowed file name`);
      if (names.has(f.name)) throw new RegistryError(`file "${f.name}" appears twice`);
      if (f.bytes.length > MAX_FILE_BYTES) throw new RegistryError(`file "${f.name}" is larger than ${MAX_FILE_BYTES} bytes`);
      names.add(f.name);
    }
    if (!names.has(entry)) throw new RegistryError(`the entry file "${entry}" is not among the files`);
    const requirements = RequirementsSchema.parse(v.requirements ?? {});

    const kind = kindOfEntry(entry);
    if (kind === undefined) throw new RegistryError(`the entry "${entry}" is not a kind of app this coordinator runs: a JavaScript module (.js, .mjs), a WASI program (.wasm) or a Python app (.py)`);
    // Written to temp files before the transaction; put in place in it (BlobStore.keep).
    const staged: { name: string; size: number; incoming: Incoming }[] = [];
    try {
      for (const f of [...v.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        staged.push({ name: f.name, size: f.bytes.length, incoming: this.blobs.stage(f.bytes) });
      }
      const files = staged.map((f) => ({ name: f.name, sha256: f.incoming.sha256, size: f.size }));
      // A JavaScript module's manifest names no kind, so it hashes as it always did.
      const manifest: AppManifest = kind === 'javascript' ? { entry, files } : { entry, files, kind };
      const bundleHash = jsonHash(manifest);
      const signature = this.key.sign('appVersion', manifest);
      return await this.store.within(within, async (tx) => {
        for (const f of staged) await this.blobs.keep(f.incoming, () => tx.catalog.recordFile(f.incoming.sha256, f.size, now));
        return await tx.catalog.insertVersion(
          { appId, platform: v.platform ?? 'any', requirements, bundleHash, manifest, signature },
          now,
        );
      });
    } finally {
      for (const f of staged) this.blobs.drop(f.incoming);
    }
  }
}

/**
 * Checks a version as volunteers would load it (see version-check.ts), then adds it: what an
 * upload goes through. Refused with the file, line and message.
 */
export async function addCheckedVersion(registry: AppRegistry, appId: number, v: Parameters<AppRegistry['addVersion']>[1], now = Date.now()): Promise<AppVersionRecord> {
  const problem = await versionProblem(v.files, v.entry ?? defaultEntry(v.files.map((f) => f.name)));
  if (problem) throw new RegistryError(`the app version was refused: ${problem}`);
  return registry.addVersion(appId, v, now);
}

export class RegistryError extends DomainError {
  override name = 'RegistryError';
}
