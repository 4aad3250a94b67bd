// What anyone may read without an account: the project list and the credit stats export.
// Only public fields are selected here, so no route can leak more than these rows hold: no
// account keys, no host keys or addresses, nothing of a host's trust (distrust, sentinels).
import type { SqlExecutor } from './sql/sql.js';
import type { StatsKind } from '../../protocol/api.js';

export interface PublicProjectRow {
  id: number;
  name: string;
  description: string;
  owner: string | null;
  batches: number;
  done: number;
  failed: number;
  total: number;
  hasWork: number;
}

/** A usable version's platform, per app. */
export interface PublicAppRow {
  projectId: number;
  appId: number;
  name: string;
  platform: 'any' | 'node' | 'browser' | null;
}

export interface StatsRow {
  id: number;
  name: string | null;
  teamId?: number | null;
  userId?: number;
  createdAt: number;
  lastSeenAt?: number;
  platformJson?: string;
  capabilitiesJson?: string;
  totalCreditMicro: number;
  rac: number;
  racTime: number;
}

const STATS: Record<StatsKind, string> = {
  users: `SELECT id, name, team_id AS teamId, created_at AS createdAt, total_credit_micro AS totalCreditMicro, rac, rac_time AS racTime
    FROM users WHERE id > ? ORDER BY id LIMIT ?`,
  teams: `SELECT id, name, created_at AS createdAt, total_credit_micro AS totalCreditMicro, rac, rac_time AS racTime
    FROM teams WHERE id > ? ORDER BY id LIMIT ?`,
  hosts: `SELECT id, NULL AS name, user_id AS userId, created_at AS createdAt, last_seen_at AS lastSeenAt, platform_json AS platformJson,
    capabilities_json AS capabilitiesJson, total_credit_micro AS totalCreditMicro, rac, rac_time AS racTime
    FROM hosts WHERE id > ? ORDER BY id LIMIT ?`,
};

const SQL: Record<string, string> = {
  // Batches neither cancelled, archived nor staged count towards progress. Work waits when an
  // active batch of an active project has unsent replicas other than its sentinels' (which
  // must not show: a project whose regular work is all out would otherwise give them away).
  projects: `SELECT p.id, p.name, p.description, r.name AS owner,
      COUNT(DISTINCT b.id) AS batches, COALESCE(SUM(c.done), 0) AS done, COALESCE(SUM(c.failed), 0) AS failed,
      COALESCE(SUM(c.active + c.done + c.failed + c.cancelled), 0) AS total,
      p.status = 'active' AND EXISTS (SELECT 1 FROM batches b2
        WHERE b2.project_id = p.id AND b2.status = 'active' AND b2.staged = 0
        AND (SELECT SUM(c2.r_unsent) FROM batch_counts c2 WHERE c2.batch_id = b2.id) > (
          SELECT COUNT(*) FROM workunits w INDEXED BY workunits_open_sentinels JOIN replicas rs ON rs.workunit_id = w.id
          WHERE w.batch_id = b2.id AND w.expected_output_hash IS NOT NULL AND w.status = 'active' AND rs.status = 'unsent')) AS hasWork
    FROM projects p LEFT JOIN researchers r ON r.id = p.owner_id
    LEFT JOIN batches b ON b.project_id = p.id AND b.status = 'active' AND b.staged = 0 AND b.archived_at IS NULL
    LEFT JOIN batch_counts c ON c.batch_id = b.id
    WHERE p.id > ? GROUP BY p.id, r.name ORDER BY p.id LIMIT ?`,
  apps: `SELECT a.project_id AS projectId, a.id AS appId, a.name, v.platform
    FROM apps a LEFT JOIN app_versions v ON v.app_id = a.id AND v.retired_at IS NULL AND v.broken_at IS NULL
    WHERE a.project_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?)) ORDER BY a.project_id, a.id`,
  count_users: 'SELECT COUNT(*) AS n FROM users',
  count_teams: 'SELECT COUNT(*) AS n FROM teams',
  count_hosts: 'SELECT COUNT(*) AS n FROM hosts',
  stats_users: STATS.users,
  stats_teams: STATS.teams,
  stats_hosts: STATS.hosts,
};

export class PublicStore {
  constructor(private readonly sql: SqlExecutor) {}

  /** Projects after `afterId`, by id. */
  async projects(afterId: number, limit: number): Promise<PublicProjectRow[]> {
    return (await this.sql.all(SQL.projects!, [afterId, limit])) as PublicProjectRow[];
  }

  /** The apps of these projects, a row per usable version (platform null: none). */
  async appsOf(projectIds: number[]): Promise<PublicAppRow[]> {
    return (await this.sql.all(SQL.apps!, [JSON.stringify(projectIds)])) as PublicAppRow[];
  }

  async count(kind: StatsKind): Promise<number> {
    return ((await this.sql.get(SQL[`count_${kind}`]!)) as { n: number }).n;
  }

  /** A page of the stats export, by id. */
  async stats(kind: StatsKind, afterId: number, limit: number): Promise<StatsRow[]> {
    return (await this.sql.all(SQL[`stats_${kind}`]!, [afterId, limit])) as StatsRow[];
  }
}
