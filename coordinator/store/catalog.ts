// Projects, apps, app versions and the index of content-addressed files.
import type { SqlExecutor } from './sql/sql.js';
import type { Requirements, VersionPlatform } from '../../protocol/api.js';
import type { AppManifest } from '../../protocol/messages.js';
import type { AppPolicy, Validation } from '../work/model.js';

export type { Requirements, VersionPlatform } from '../../protocol/api.js';

export interface AppVersionRecord {
  id: number;
  appId: number;
  version: number;
  platform: VersionPlatform;
  requirements: Requirements;
  bundleHash: string;
  manifest: AppManifest;
  signature: string;
  createdAt: number;
  /** Set when it failed to load on every host that ran it (and never succeeded): no task is sent with it. */
  broken: { at: number; reason: string } | null;
  /** When a researcher retired it: no task is sent with it. */
  retiredAt: number | null;
}

/** What a version's load failures look like, while it has never produced a result. */
export interface VersionFailures {
  succeeded: boolean;
  /** Load failures, and the distinct hosts and users that had them among hosts with a valid result elsewhere. */
  loadFailures: number;
  provenHosts: number;
  provenUsers: number;
  /** The most recent failure's message. */
  lastMessage: string | null;
}

/** An app's policy and when it was made. */
export type AppRecord = AppPolicy & { createdAt: number };

export interface ProjectRecord {
  id: number;
  name: string;
  description: string;
  status: 'active' | 'paused';
  ownerId: number | null;
  createdAt: number;
  /** The most credit per result an admin set, in micro-credits; null: the coordinator's default. */
  maxCreditMicro: number | null;
  /** The cap a correction is bringing granted credit down to, while it runs. */
  creditCorrectionMicro: number | null;
  /** The highest work-unit priority an admin allows the project; null: the coordinator's default. */
  maxPriority: number | null;
  /** The bound the project's queued work is being brought down to, while that runs. */
  priorityLowering: number | null;
}

/** Where the lowering of a project's queued work to its priority bound stands, as for credit corrections. */
export interface PriorityLoweringState {
  projectId: number;
  maxPriority: number;
  batchId: number;
  through: number;
}

/** Where a project's credit correction stands: the batch it is in, the last work unit done in it. */
export interface CreditCorrectionState {
  projectId: number;
  capMicro: number;
  batchId: number;
  through: number;
}

const PROJECT_COLUMNS = `id, name, description, status, owner_id AS ownerId, created_at AS createdAt, max_credit_micro AS maxCreditMicro,
  credit_correction_micro AS creditCorrectionMicro, max_priority AS maxPriority, priority_lowering AS priorityLowering`;

interface VersionRow {
  id: number;
  app_id: number;
  version: number;
  platform: VersionPlatform;
  requirements_json: string;
  bundle_hash: string;
  manifest_json: string;
  signature: string;
  created_at: number;
  broken_at: number | null;
  broken_reason: string | null;
  retired_at: number | null;
}

const toVersion = (r: VersionRow): AppVersionRecord => ({
  id: r.id,
  appId: r.app_id,
  version: r.version,
  platform: r.platform,
  requirements: JSON.parse(r.requirements_json) as Requirements,
  bundleHash: r.bundle_hash,
  manifest: JSON.parse(r.manifest_json) as AppManifest,
  signature: r.signature,
  createdAt: r.created_at,
  broken: r.broken_at === null ? null : { at: r.broken_at, reason: r.broken_reason ?? '' },
  retiredAt: r.retired_at,
});

const SQL: Record<string, string> = {
  insertProject: 'INSERT INTO projects (name, description, owner_id, created_at) VALUES (?, ?, ?, ?) RETURNING id',
  projectByName: `SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`,
  projectById: `SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ?`,
  projects: `SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY id`,
  projectsOf: `SELECT ${PROJECT_COLUMNS} FROM projects WHERE owner_id = ? ORDER BY id`,
  updateProject: 'UPDATE projects SET name = ?, description = ?, status = ? WHERE id = ?',
  setOwnerIfNone: 'UPDATE projects SET owner_id = ? WHERE owner_id IS NULL',
  setCreditCap: `UPDATE projects SET max_credit_micro = @cap, credit_correction_micro = @correction,
    credit_correction_batch = 0, credit_correction_through = 0 WHERE id = @id`,
  creditCapOfApp: 'SELECT p.max_credit_micro AS cap FROM apps a JOIN projects p ON p.id = a.project_id WHERE a.id = ?',
  creditCorrections: `SELECT id AS projectId, credit_correction_micro AS capMicro, credit_correction_batch AS batchId,
    credit_correction_through AS through FROM projects WHERE credit_correction_micro IS NOT NULL ORDER BY id`,
  advanceCreditCorrection: `UPDATE projects SET credit_correction_batch = ?, credit_correction_through = ?
    WHERE id = ? AND credit_correction_micro IS NOT NULL`,
  finishCreditCorrection: `UPDATE projects SET credit_correction_micro = NULL, credit_correction_batch = 0,
    credit_correction_through = 0 WHERE id = ?`,
  setMaxPriority: `UPDATE projects SET max_priority = @max, priority_lowering = @lowering,
    priority_lowering_batch = 0, priority_lowering_through = 0 WHERE id = @id`,
  maxPriorityOfApp: 'SELECT p.max_priority AS max FROM apps a JOIN projects p ON p.id = a.project_id WHERE a.id = ?',
  priorityLowerings: `SELECT id AS projectId, priority_lowering AS maxPriority, priority_lowering_batch AS batchId,
    priority_lowering_through AS through FROM projects WHERE priority_lowering IS NOT NULL ORDER BY id`,
  advancePriorityLowering: `UPDATE projects SET priority_lowering_batch = ?, priority_lowering_through = ?
    WHERE id = ? AND priority_lowering IS NOT NULL`,
  finishPriorityLowering: `UPDATE projects SET priority_lowering = NULL, priority_lowering_batch = 0,
    priority_lowering_through = 0 WHERE id = ?`,
  appsOfProject: 'SELECT * FROM apps WHERE project_id = ? ORDER BY id',
  insertApp: `INSERT INTO apps (project_id, name, validation_json, homogeneous_redundancy,
    adaptive_replication, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
  appById: 'SELECT * FROM apps WHERE id = ?',
  appByName: 'SELECT * FROM apps WHERE project_id = ? AND name = ?',
  nextVersion: 'SELECT COALESCE(MAX(version), 0) + 1 AS v FROM app_versions WHERE app_id = ?',
  insertVersion: `INSERT INTO app_versions (app_id, version, platform, requirements_json, bundle_hash,
    manifest_json, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  versionsOfApp: 'SELECT * FROM app_versions WHERE app_id = ? ORDER BY version DESC',
  versionByHash: 'SELECT * FROM app_versions WHERE bundle_hash = ? ORDER BY id LIMIT 1',
  versionById: 'SELECT * FROM app_versions WHERE id = ?',
  versionSucceeded: 'UPDATE app_versions SET succeeded = 1 WHERE id = ? AND succeeded = 0',
  versionFailures: `SELECT v.succeeded,
      (SELECT COUNT(*) FROM replicas r INDEXED BY replicas_version_errors WHERE r.app_version_id = v.id AND r.outcome = 'client_error'
        AND json_extract(r.error_json, '$.code') = 'app_load_failed') AS loadFailures,
      (SELECT COUNT(DISTINCT r.host_id) FROM replicas r INDEXED BY replicas_version_errors JOIN hosts h ON h.id = r.host_id
        WHERE r.app_version_id = v.id AND r.outcome = 'client_error' AND json_extract(r.error_json, '$.code') = 'app_load_failed'
        AND h.n_valid > 0) AS provenHosts,
      (SELECT COUNT(DISTINCT h.user_id) FROM replicas r INDEXED BY replicas_version_errors JOIN hosts h ON h.id = r.host_id
        WHERE r.app_version_id = v.id AND r.outcome = 'client_error' AND json_extract(r.error_json, '$.code') = 'app_load_failed'
        AND h.n_valid > 0) AS provenUsers,
      (SELECT json_extract(r.error_json, '$.message') FROM replicas r INDEXED BY replicas_version_errors
        WHERE r.app_version_id = v.id AND r.outcome = 'client_error' AND json_extract(r.error_json, '$.code') = 'app_load_failed'
        ORDER BY r.received_at DESC LIMIT 1) AS lastMessage
    FROM app_versions v WHERE v.id = ?`,
  retire: 'UPDATE app_versions SET retired_at = ? WHERE id = ?',
  markBroken: 'UPDATE app_versions SET broken_at = ?, broken_reason = ? WHERE id = ? AND broken_at IS NULL AND succeeded = 0',
  // An app file or a large input is public, even if the same bytes came as an output first.
  insertFile: `INSERT INTO files (sha256, size, created_at, public) VALUES (?, ?, ?, 1)
    ON CONFLICT (sha256) DO UPDATE SET public = 1`,
  // An output is private unless the same bytes are public already.
  insertCanonicalFile: `INSERT INTO files (sha256, size, created_at, canonical_json, public) VALUES (?, ?, ?, 1, 0)
    ON CONFLICT (sha256) DO UPDATE SET canonical_json = 1`,
  fileSize: 'SELECT size FROM files WHERE sha256 = ?',
  publicFileSize: 'SELECT size FROM files WHERE sha256 = ? AND public = 1',
  fileCanonical: 'SELECT canonical_json AS canonical FROM files WHERE sha256 = ?',
  setFileCanonical: 'UPDATE files SET canonical_json = ? WHERE sha256 = ?',
};

const CAP_MEMO = 'credit-cap.app.';
/**
 * An app, and an app's versions, read once a transaction (every task request reads its apps'):
 * one changed meanwhile by another transaction is as if it had changed a moment later. What this
 * transaction writes of a version forgets them.
 */
const APP_MEMO = 'catalog.app.';
const VERSIONS_MEMO = 'catalog.versions.';

export class CatalogStore {
  constructor(private readonly sql: SqlExecutor) {}

  async insertProject(p: { name: string; description: string; ownerId: number | null }, now: number): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertProject!, [p.name, p.description, p.ownerId, now]))!.id;
  }

  /** All projects, or those of one owner. */
  async projects(ownerId?: number): Promise<ProjectRecord[]> {
    return (ownerId === undefined ? (await this.sql.all(SQL.projects!)) : (await this.sql.all(SQL.projectsOf!, [ownerId]))) as ProjectRecord[];
  }

  async updateProject(p: Pick<ProjectRecord, 'id' | 'name' | 'description' | 'status'>): Promise<void> {
    await this.sql.run(SQL.updateProject!, [p.name, p.description, p.status, p.id]);
  }

  /**
   * Sets a project's credit cap (null: the coordinator's default) and starts over the correction
   * that brings credit granted above `correctionMicro` down to it (null: none).
   */
  async setCreditCap(projectId: number, capMicro: number | null, correctionMicro: number | null): Promise<void> {
    await this.sql.run(SQL.setCreditCap!, { id: projectId, cap: capMicro, correction: correctionMicro });
    for (const key of [...(this.sql.memo?.keys() ?? [])]) if (key.startsWith(CAP_MEMO)) this.sql.memo!.delete(key);
  }

  /**
   * The cap an admin set on the project of an app, in micro-credits; null: the coordinator's
   * default. Read once a transaction (every grant reads it): one changed meanwhile by another
   * transaction is as if it had changed a moment later, which the credit correction takes care of.
   */
  async creditCapOfApp(appId: number): Promise<number | null> {
    const key = `${CAP_MEMO}${appId}`;
    if (this.sql.memo?.has(key)) return this.sql.memo.get(key) as number | null;
    const cap = ((await this.sql.get(SQL.creditCapOfApp!, [appId])) as { cap: number | null } | undefined)?.cap ?? null;
    this.sql.memo?.set(key, cap);
    return cap;
  }

  /** Projects whose credit is being brought down to a lowered cap, and where each stands. */
  async creditCorrections(): Promise<CreditCorrectionState[]> {
    return (await this.sql.all(SQL.creditCorrections!)) as CreditCorrectionState[];
  }

  async advanceCreditCorrection(projectId: number, batchId: number, through: number): Promise<void> {
    await this.sql.run(SQL.advanceCreditCorrection!, [batchId, through, projectId]);
  }

  async finishCreditCorrection(projectId: number): Promise<void> {
    await this.sql.run(SQL.finishCreditCorrection!, [projectId]);
  }

  /**
   * Sets the highest priority a project's work units may have (null: the coordinator's default)
   * and starts over the lowering of its queued work to `loweringTo` (null: none).
   */
  async setMaxPriority(projectId: number, max: number | null, loweringTo: number | null): Promise<void> {
    await this.sql.run(SQL.setMaxPriority!, { id: projectId, max, lowering: loweringTo });
  }

  /** The priority bound an admin set on the project of an app; null: the coordinator's default. */
  async maxPriorityOfApp(appId: number): Promise<number | null> {
    return ((await this.sql.get(SQL.maxPriorityOfApp!, [appId])) as { max: number | null } | undefined)?.max ?? null;
  }

  /** Projects whose queued work is being brought down to a lowered priority bound, and where each stands. */
  async priorityLowerings(): Promise<PriorityLoweringState[]> {
    return (await this.sql.all(SQL.priorityLowerings!)) as PriorityLoweringState[];
  }

  async advancePriorityLowering(projectId: number, batchId: number, through: number): Promise<void> {
    await this.sql.run(SQL.advancePriorityLowering!, [batchId, through, projectId]);
  }

  async finishPriorityLowering(projectId: number): Promise<void> {
    await this.sql.run(SQL.finishPriorityLowering!, [projectId]);
  }

  /** Projects made before accounts existed (the demo) go to the first admin. */
  async adoptOwnerless(ownerId: number): Promise<number> {
    return (await this.sql.run(SQL.setOwnerIfNone!, [ownerId])).changes;
  }

  async appsOfProject(projectId: number): Promise<AppRecord[]> {
    return ((await this.sql.all(SQL.appsOfProject!, [projectId])) as unknown[]).map((row) => toApp(row)!);
  }

  async projectByName(name: string): Promise<ProjectRecord | undefined> {
    return (await this.sql.get(SQL.projectByName!, [name])) as ProjectRecord | undefined;
  }

  async projectById(id: number): Promise<ProjectRecord | undefined> {
    return (await this.sql.get(SQL.projectById!, [id])) as ProjectRecord | undefined;
  }

  async insertApp(a: Omit<AppPolicy, 'id'>, now: number): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertApp!, [a.projectId, a.name, JSON.stringify(a.validation), a.homogeneousRedundancy ? 1 : 0, a.adaptiveReplication ? 1 : 0, now]))!.id;
  }

  async appById(id: number): Promise<AppRecord | undefined> {
    const key = `${APP_MEMO}${id}`;
    if (this.sql.memo?.has(key)) return this.sql.memo.get(key) as AppRecord | undefined;
    const app = toApp(await this.sql.get(SQL.appById!, [id]));
    if (app) this.sql.memo?.set(key, app);
    return app;
  }

  async appByName(projectId: number, name: string): Promise<AppRecord | undefined> {
    return toApp(await this.sql.get(SQL.appByName!, [projectId, name]));
  }

  async insertVersion(v: Omit<AppVersionRecord, 'id' | 'version' | 'createdAt' | 'broken' | 'retiredAt'>, now: number): Promise<AppVersionRecord> {
    const version = ((await this.sql.get(SQL.nextVersion!, [v.appId])) as { v: number }).v;
    const id = (await this.sql.get<{ id: number }>(SQL.insertVersion!, [v.appId, version, v.platform, JSON.stringify(v.requirements), v.bundleHash, JSON.stringify(v.manifest), v.signature, now]))!.id;
    this.forgetVersions();
    return { ...v, id, version, createdAt: now, broken: null, retiredAt: null };
  }

  /** Newest first. */
  async versionsOfApp(appId: number): Promise<readonly AppVersionRecord[]> {
    const key = `${VERSIONS_MEMO}${appId}`;
    if (this.sql.memo?.has(key)) return this.sql.memo.get(key) as readonly AppVersionRecord[];
    const versions = ((await this.sql.all(SQL.versionsOfApp!, [appId])) as VersionRow[]).map(toVersion);
    this.sql.memo?.set(key, versions);
    return versions;
  }

  private forgetVersions(): void {
    for (const key of [...(this.sql.memo?.keys() ?? [])]) if (key.startsWith(VERSIONS_MEMO)) this.sql.memo!.delete(key);
  }

  async versionByHash(bundleHash: string): Promise<AppVersionRecord | undefined> {
    const row = (await this.sql.get(SQL.versionByHash!, [bundleHash])) as VersionRow | undefined;
    return row && toVersion(row);
  }

  async versionById(id: number): Promise<AppVersionRecord | undefined> {
    const row = (await this.sql.get(SQL.versionById!, [id])) as VersionRow | undefined;
    return row && toVersion(row);
  }

  /** The version produced a result: it is not broken, whatever happens later. */
  async markVersionSucceeded(versionId: number): Promise<void> {
    if ((await this.sql.run(SQL.versionSucceeded!, [versionId])).changes > 0) this.forgetVersions();
  }

  async versionFailures(versionId: number): Promise<VersionFailures> {
    const r = (await this.sql.get(SQL.versionFailures!, [versionId])) as Omit<VersionFailures, 'succeeded'> & { succeeded: number };
    return { ...r, succeeded: r.succeeded === 1 };
  }

  /** Retires a version (no task is sent with it), or brings it back with `null`. */
  async setVersionRetired(versionId: number, retiredAt: number | null): Promise<void> {
    await this.sql.run(SQL.retire!, [retiredAt, versionId]);
    this.forgetVersions();
  }

  /** Marks a version that never succeeded broken; false if it was already, or has succeeded meanwhile. */
  async markVersionBroken(versionId: number, reason: string, now: number): Promise<boolean> {
    const changed = (await this.sql.run(SQL.markBroken!, [now, reason, versionId])).changes === 1;
    if (changed) this.forgetVersions();
    return changed;
  }

  async recordFile(sha256: string, size: number, now: number): Promise<void> {
    await this.sql.run(SQL.insertFile!, [sha256, size, now]);
  }

  /** An uploaded output, whose bytes were checked to be exactly canonical JSON (migration 7); private (migration 12). */
  async recordCanonicalFile(sha256: string, size: number, now: number): Promise<void> {
    await this.sql.run(SQL.insertCanonicalFile!, [sha256, size, now]);
  }

  async fileSize(sha256: string): Promise<number | undefined> {
    return ((await this.sql.get(SQL.fileSize!, [sha256])) as { size: number } | undefined)?.size;
  }

  /** The size of a file anyone may download (an app file or a large input); undefined for an output or no file. */
  async publicFileSize(sha256: string): Promise<number | undefined> {
    return ((await this.sql.get(SQL.publicFileSize!, [sha256])) as { size: number } | undefined)?.size;
  }

  /** Whether a file is canonical JSON: null if it was never checked, undefined if there is no such file. */
  async fileCanonical(sha256: string): Promise<boolean | null | undefined> {
    const row = (await this.sql.get(SQL.fileCanonical!, [sha256])) as { canonical: number | null } | undefined;
    return row && (row.canonical === null ? null : row.canonical === 1);
  }

  async setFileCanonical(sha256: string, canonical: boolean): Promise<void> {
    await this.sql.run(SQL.setFileCanonical!, [canonical ? 1 : 0, sha256]);
  }
}

function toApp(row: unknown): AppRecord | undefined {
  if (!row) return undefined;
  const r = row as { id: number; project_id: number; name: string; validation_json: string; homogeneous_redundancy: number; adaptive_replication: number; created_at: number };
  return {
    id: r.id,
    projectId: r.project_id,
    name: r.name,
    validation: JSON.parse(r.validation_json) as Validation,
    homogeneousRedundancy: r.homogeneous_redundancy === 1,
    adaptiveReplication: r.adaptive_replication === 1,
    createdAt: r.created_at,
  };
}
