// Projects, apps, app versions and the index of content-addressed files.
import type { Database, Statement } from 'better-sqlite3';
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

export class CatalogStore {
  private readonly s: Record<string, Statement>;

  constructor(db: Database) {
    this.s = {
      insertProject: db.prepare('INSERT INTO projects (name, description, owner_id, created_at) VALUES (?, ?, ?, ?)'),
      projectByName: db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`),
      projectById: db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ?`),
      projects: db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY id`),
      projectsOf: db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE owner_id = ? ORDER BY id`),
      updateProject: db.prepare('UPDATE projects SET name = ?, description = ?, status = ? WHERE id = ?'),
      setOwnerIfNone: db.prepare('UPDATE projects SET owner_id = ? WHERE owner_id IS NULL'),
      setCreditCap: db.prepare(`UPDATE projects SET max_credit_micro = @cap, credit_correction_micro = @correction,
        credit_correction_batch = 0, credit_correction_through = 0 WHERE id = @id`),
      creditCapOfApp: db.prepare('SELECT p.max_credit_micro AS cap FROM apps a JOIN projects p ON p.id = a.project_id WHERE a.id = ?'),
      creditCorrections: db.prepare(`SELECT id AS projectId, credit_correction_micro AS capMicro, credit_correction_batch AS batchId,
        credit_correction_through AS through FROM projects WHERE credit_correction_micro IS NOT NULL ORDER BY id`),
      advanceCreditCorrection: db.prepare(`UPDATE projects SET credit_correction_batch = ?, credit_correction_through = ?
        WHERE id = ? AND credit_correction_micro IS NOT NULL`),
      finishCreditCorrection: db.prepare(`UPDATE projects SET credit_correction_micro = NULL, credit_correction_batch = 0,
        credit_correction_through = 0 WHERE id = ?`),
      setMaxPriority: db.prepare(`UPDATE projects SET max_priority = @max, priority_lowering = @lowering,
        priority_lowering_batch = 0, priority_lowering_through = 0 WHERE id = @id`),
      maxPriorityOfApp: db.prepare('SELECT p.max_priority AS max FROM apps a JOIN projects p ON p.id = a.project_id WHERE a.id = ?'),
      priorityLowerings: db.prepare(`SELECT id AS projectId, priority_lowering AS maxPriority, priority_lowering_batch AS batchId,
        priority_lowering_through AS through FROM projects WHERE priority_lowering IS NOT NULL ORDER BY id`),
      advancePriorityLowering: db.prepare(`UPDATE projects SET priority_lowering_batch = ?, priority_lowering_through = ?
        WHERE id = ? AND priority_lowering IS NOT NULL`),
      finishPriorityLowering: db.prepare(`UPDATE projects SET priority_lowering = NULL, priority_lowering_batch = 0,
        priority_lowering_through = 0 WHERE id = ?`),
      appsOfProject: db.prepare('SELECT * FROM apps WHERE project_id = ? ORDER BY id'),
      insertApp: db.prepare(`INSERT INTO apps (project_id, name, validation_json, homogeneous_redundancy,
        adaptive_replication, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      appById: db.prepare('SELECT * FROM apps WHERE id = ?'),
      appByName: db.prepare('SELECT * FROM apps WHERE project_id = ? AND name = ?'),
      nextVersion: db.prepare('SELECT COALESCE(MAX(version), 0) + 1 AS v FROM app_versions WHERE app_id = ?'),
      insertVersion: db.prepare(`INSERT INTO app_versions (app_id, version, platform, requirements_json, bundle_hash,
        manifest_json, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      versionsOfApp: db.prepare('SELECT * FROM app_versions WHERE app_id = ? ORDER BY version DESC'),
      versionByHash: db.prepare('SELECT * FROM app_versions WHERE bundle_hash = ? ORDER BY id LIMIT 1'),
      versionById: db.prepare('SELECT * FROM app_versions WHERE id = ?'),
      versionSucceeded: db.prepare('UPDATE app_versions SET succeeded = 1 WHERE id = ? AND succeeded = 0'),
      versionFailures: db.prepare(`SELECT v.succeeded,
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
        FROM app_versions v WHERE v.id = ?`),
      retire: db.prepare('UPDATE app_versions SET retired_at = ? WHERE id = ?'),
      markBroken: db.prepare('UPDATE app_versions SET broken_at = ?, broken_reason = ? WHERE id = ? AND broken_at IS NULL AND succeeded = 0'),
      // An app file or a large input is public, even if the same bytes came as an output first.
      insertFile: db.prepare(`INSERT INTO files (sha256, size, created_at, public) VALUES (?, ?, ?, 1)
        ON CONFLICT (sha256) DO UPDATE SET public = 1`),
      // An output is private unless the same bytes are public already.
      insertCanonicalFile: db.prepare(`INSERT INTO files (sha256, size, created_at, canonical_json, public) VALUES (?, ?, ?, 1, 0)
        ON CONFLICT (sha256) DO UPDATE SET canonical_json = 1`),
      fileSize: db.prepare('SELECT size FROM files WHERE sha256 = ?'),
      publicFileSize: db.prepare('SELECT size FROM files WHERE sha256 = ? AND public = 1'),
      fileCanonical: db.prepare('SELECT canonical_json AS canonical FROM files WHERE sha256 = ?'),
      setFileCanonical: db.prepare('UPDATE files SET canonical_json = ? WHERE sha256 = ?'),
    };
  }

  insertProject(p: { name: string; description: string; ownerId: number | null }, now: number): number {
    return Number(this.s.insertProject!.run(p.name, p.description, p.ownerId, now).lastInsertRowid);
  }

  /** All projects, or those of one owner. */
  projects(ownerId?: number): ProjectRecord[] {
    return (ownerId === undefined ? this.s.projects!.all() : this.s.projectsOf!.all(ownerId)) as ProjectRecord[];
  }

  updateProject(p: Pick<ProjectRecord, 'id' | 'name' | 'description' | 'status'>): void {
    this.s.updateProject!.run(p.name, p.description, p.status, p.id);
  }

  /**
   * Sets a project's credit cap (null: the coordinator's default) and starts over the correction
   * that brings credit granted above `correctionMicro` down to it (null: none).
   */
  setCreditCap(projectId: number, capMicro: number | null, correctionMicro: number | null): void {
    this.s.setCreditCap!.run({ id: projectId, cap: capMicro, correction: correctionMicro });
  }

  /** The cap an admin set on the project of an app, in micro-credits; null: the coordinator's default. */
  creditCapOfApp(appId: number): number | null {
    return (this.s.creditCapOfApp!.get(appId) as { cap: number | null } | undefined)?.cap ?? null;
  }

  /** Projects whose credit is being brought down to a lowered cap, and where each stands. */
  creditCorrections(): CreditCorrectionState[] {
    return this.s.creditCorrections!.all() as CreditCorrectionState[];
  }

  advanceCreditCorrection(projectId: number, batchId: number, through: number): void {
    this.s.advanceCreditCorrection!.run(batchId, through, projectId);
  }

  finishCreditCorrection(projectId: number): void {
    this.s.finishCreditCorrection!.run(projectId);
  }

  /**
   * Sets the highest priority a project's work units may have (null: the coordinator's default)
   * and starts over the lowering of its queued work to `loweringTo` (null: none).
   */
  setMaxPriority(projectId: number, max: number | null, loweringTo: number | null): void {
    this.s.setMaxPriority!.run({ id: projectId, max, lowering: loweringTo });
  }

  /** The priority bound an admin set on the project of an app; null: the coordinator's default. */
  maxPriorityOfApp(appId: number): number | null {
    return (this.s.maxPriorityOfApp!.get(appId) as { max: number | null } | undefined)?.max ?? null;
  }

  /** Projects whose queued work is being brought down to a lowered priority bound, and where each stands. */
  priorityLowerings(): PriorityLoweringState[] {
    return this.s.priorityLowerings!.all() as PriorityLoweringState[];
  }

  advancePriorityLowering(projectId: number, batchId: number, through: number): void {
    this.s.advancePriorityLowering!.run(batchId, through, projectId);
  }

  finishPriorityLowering(projectId: number): void {
    this.s.finishPriorityLowering!.run(projectId);
  }

  /** Projects made before accounts existed (the demo) go to the first admin. */
  adoptOwnerless(ownerId: number): number {
    return this.s.setOwnerIfNone!.run(ownerId).changes;
  }

  appsOfProject(projectId: number): AppRecord[] {
    return (this.s.appsOfProject!.all(projectId) as unknown[]).map((row) => toApp(row)!);
  }

  projectByName(name: string): ProjectRecord | undefined {
    return this.s.projectByName!.get(name) as ProjectRecord | undefined;
  }

  projectById(id: number): ProjectRecord | undefined {
    return this.s.projectById!.get(id) as ProjectRecord | undefined;
  }

  insertApp(a: Omit<AppPolicy, 'id'>, now: number): number {
    return Number(
      this.s.insertApp!.run(a.projectId, a.name, JSON.stringify(a.validation), a.homogeneousRedundancy ? 1 : 0,
        a.adaptiveReplication ? 1 : 0, now).lastInsertRowid,
    );
  }

  appById(id: number): AppRecord | undefined {
    return toApp(this.s.appById!.get(id));
  }

  appByName(projectId: number, name: string): AppRecord | undefined {
    return toApp(this.s.appByName!.get(projectId, name));
  }

  insertVersion(v: Omit<AppVersionRecord, 'id' | 'version' | 'createdAt' | 'broken' | 'retiredAt'>, now: number): AppVersionRecord {
    const version = (this.s.nextVersion!.get(v.appId) as { v: number }).v;
    const id = Number(
      this.s.insertVersion!.run(v.appId, version, v.platform, JSON.stringify(v.requirements), v.bundleHash,
        JSON.stringify(v.manifest), v.signature, now).lastInsertRowid,
    );
    return { ...v, id, version, createdAt: now, broken: null, retiredAt: null };
  }

  /** Newest first. */
  versionsOfApp(appId: number): AppVersionRecord[] {
    return (this.s.versionsOfApp!.all(appId) as VersionRow[]).map(toVersion);
  }

  versionByHash(bundleHash: string): AppVersionRecord | undefined {
    const row = this.s.versionByHash!.get(bundleHash) as VersionRow | undefined;
    return row && toVersion(row);
  }

  versionById(id: number): AppVersionRecord | undefined {
    const row = this.s.versionById!.get(id) as VersionRow | undefined;
    return row && toVersion(row);
  }

  /** The version produced a result: it is not broken, whatever happens later. */
  markVersionSucceeded(versionId: number): void {
    this.s.versionSucceeded!.run(versionId);
  }

  versionFailures(versionId: number): VersionFailures {
    const r = this.s.versionFailures!.get(versionId) as Omit<VersionFailures, 'succeeded'> & { succeeded: number };
    return { ...r, succeeded: r.succeeded === 1 };
  }

  /** Retires a version (no task is sent with it), or brings it back with `null`. */
  setVersionRetired(versionId: number, retiredAt: number | null): void {
    this.s.retire!.run(retiredAt, versionId);
  }

  /** Marks a version that never succeeded broken; false if it was already, or has succeeded meanwhile. */
  markVersionBroken(versionId: number, reason: string, now: number): boolean {
    return this.s.markBroken!.run(now, reason, versionId).changes === 1;
  }

  recordFile(sha256: string, size: number, now: number): void {
    this.s.insertFile!.run(sha256, size, now);
  }

  /** An uploaded output, whose bytes were checked to be exactly canonical JSON (migration 7); private (migration 12). */
  recordCanonicalFile(sha256: string, size: number, now: number): void {
    this.s.insertCanonicalFile!.run(sha256, size, now);
  }

  fileSize(sha256: string): number | undefined {
    return (this.s.fileSize!.get(sha256) as { size: number } | undefined)?.size;
  }

  /** The size of a file anyone may download (an app file or a large input); undefined for an output or no file. */
  publicFileSize(sha256: string): number | undefined {
    return (this.s.publicFileSize!.get(sha256) as { size: number } | undefined)?.size;
  }

  /** Whether a file is canonical JSON: null if it was never checked, undefined if there is no such file. */
  fileCanonical(sha256: string): boolean | null | undefined {
    const row = this.s.fileCanonical!.get(sha256) as { canonical: number | null } | undefined;
    return row && (row.canonical === null ? null : row.canonical === 1);
  }

  setFileCanonical(sha256: string, canonical: boolean): void {
    this.s.setFileCanonical!.run(canonical ? 1 : 0, sha256);
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
