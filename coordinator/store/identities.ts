// Users, teams and hosts: who computes, and the credit and trust they have earned.
import type { SqlExecutor } from './sql/sql.js';
import { idArray, type HeldWrite } from './sql/write-behind.js';
import type { Capabilities, Platform } from '../../protocol/messages.js';
import type { Average } from '../work/credit.js';

export interface HostRecord {
  id: number;
  publicKey: string;
  userId: number;
  teamId: number | null;
  name: string | null;
  platformKind: Platform['kind'];
  platformClass: string;
  platform: Platform;
  capabilities: Capabilities;
  consecutiveValid: number;
  nValid: number;
  nInvalid: number;
  nError: number;
  sentinelsPassed: number;
  sentinelsFailed: number;
  /** When the host last answered a sentinel wrongly, while it has not earned its trust back. */
  distrustedAt: number | null;
  /** Whole micro-credits. */
  totalCreditMicro: number;
  rac: number;
  racTime: number;
  /** The exponent of its allowance of tasks in flight (see work/host-quota.ts). */
  quotaLevel: number;
}

/** A host's tasks a day for one app: their level, and how many it took on `day`. */
export interface AppQuota {
  level: number;
  day: number;
  used: number;
}

export interface UserRecord {
  id: number;
  name: string;
  teamId: number | null;
  /** Whole micro-credits. */
  totalCreditMicro: number;
  rac: number;
  racTime: number;
}

export type CreditHolder = 'hosts' | 'users' | 'teams';

interface HostRow {
  id: number;
  public_key: string;
  user_id: number;
  team_id: number | null;
  name: string | null;
  platform_kind: Platform['kind'];
  platform_class: string;
  platform_json: string;
  capabilities_json: string;
  consecutive_valid: number;
  n_valid: number;
  n_invalid: number;
  n_error: number;
  sentinels_passed: number;
  sentinels_failed: number;
  distrusted_at: number | null;
  total_credit_micro: number;
  rac: number;
  rac_time: number;
  quota_level: number;
}

const HOST_COLUMNS = `h.id, h.public_key, h.user_id, u.team_id, h.name, h.platform_kind, h.platform_class,
  h.platform_json, h.capabilities_json, h.consecutive_valid, h.n_valid, h.n_invalid, h.n_error,
  h.sentinels_passed, h.sentinels_failed, h.distrusted_at, h.total_credit_micro, h.rac, h.rac_time, h.quota_level`;

function toHost(r: HostRow): HostRecord {
  return {
    id: r.id,
    publicKey: r.public_key,
    userId: r.user_id,
    teamId: r.team_id,
    name: r.name,
    platformKind: r.platform_kind,
    platformClass: r.platform_class,
    platform: JSON.parse(r.platform_json) as Platform,
    capabilities: JSON.parse(r.capabilities_json) as Capabilities,
    consecutiveValid: r.consecutive_valid,
    nValid: r.n_valid,
    nInvalid: r.n_invalid,
    nError: r.n_error,
    sentinelsPassed: r.sentinels_passed,
    sentinelsFailed: r.sentinels_failed,
    distrustedAt: r.distrusted_at,
    totalCreditMicro: r.total_credit_micro,
    rac: r.rac,
    racTime: r.rac_time,
    quotaLevel: r.quota_level,
  };
}

/**
 * Counts of hosts raised, held (PostgreSQL) and written in one statement: each host's raises add
 * up. `statement` takes @rows ({id, n} each) and @ids.
 */
function hostRaises(name: string, statement: string): HeldWrite<number, number> {
  return {
    name,
    merge: (held, next) => held + next,
    async write(sql, held) {
      const rows = [...held].map(([id, n]) => ({ id, n }));
      await sql.run(SQL[statement]!, { rows: JSON.stringify(rows), ids: idArray(held.keys()) });
    },
  };
}

/** Valid results raising hosts' trust. */
const TRUST_VALID = hostRaises('trust raised', 'trustValidMany');
/** Checks passed by hosts not distrusted: their trust and count of checks passed. */
const CHECKS_PASSED = hostRaises('checks passed', 'checksPassedMany');

const SQL: Record<string, string> = {
  // PostgreSQL only (held writes): the ids as an array too, for the index.
  trustValidMany: `UPDATE hosts SET consecutive_valid = consecutive_valid + j.n FROM json_to_recordset(CAST(@rows AS json)) AS j(id BIGINT, n BIGINT)
    WHERE hosts.id = j.id AND hosts.id = ANY(CAST(@ids AS BIGINT[]))`,
  checksPassedMany: `UPDATE hosts SET sentinels_passed = sentinels_passed + j.n, consecutive_valid = consecutive_valid + j.n
    FROM json_to_recordset(CAST(@rows AS json)) AS j(id BIGINT, n BIGINT) WHERE hosts.id = j.id AND hosts.id = ANY(CAST(@ids AS BIGINT[]))`,
  hostByKey: `SELECT ${HOST_COLUMNS} FROM hosts h JOIN users u ON u.id = h.user_id WHERE h.public_key = ?`,
  hostById: `SELECT ${HOST_COLUMNS} FROM hosts h JOIN users u ON u.id = h.user_id WHERE h.id = ?`,
  insertHost: `INSERT INTO hosts (public_key, user_id, name, platform_kind, platform_class, platform_json,
    capabilities_json, created_at, last_seen_at, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  updateHost: `UPDATE hosts SET user_id = ?, name = ?, platform_kind = ?, platform_class = ?, platform_json = ?,
    capabilities_json = ?, last_seen_at = ?, instance = ? WHERE id = ?`,
  insertUser: 'INSERT INTO users (name, account_key_hash, team_id, created_at) VALUES (?, ?, ?, ?) RETURNING id',
  userById: 'SELECT id, name, team_id, total_credit_micro, rac, rac_time FROM users WHERE id = ?',
  userByKeyHash: 'SELECT id, name, team_id, total_credit_micro, rac, rac_time FROM users WHERE account_key_hash = ?',
  teamByName: 'SELECT id FROM teams WHERE name = ?',
  insertTeam: 'INSERT INTO teams (name, created_at) VALUES (?, ?) RETURNING id',
  // Trust only: n_valid, n_invalid and n_error are kept by triggers on replicas (migration 9).
  trustValid: 'UPDATE hosts SET consecutive_valid = consecutive_valid + ? WHERE id = ?',
  trustValidOfHosts: 'UPDATE hosts SET consecutive_valid = consecutive_valid + ? WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?))',
  trustInvalid: 'UPDATE hosts SET consecutive_valid = 0 WHERE id = ?',
  trustError: 'UPDATE hosts SET consecutive_valid = 0 WHERE id = ?',
  checkPassed: `UPDATE hosts SET sentinels_passed = sentinels_passed + 1, consecutive_valid = consecutive_valid + 1,
    distrusted_at = CASE WHEN consecutive_valid + 1 >= @threshold THEN NULL ELSE distrusted_at END WHERE id = @id`,
  // A host already distrusted starts its way back over; one caught now is re-checked later.
  checkFailed: `UPDATE hosts SET sentinels_failed = sentinels_failed + 1, consecutive_valid = 0,
    recheck_pending = CASE WHEN distrusted_at IS NULL THEN 1 ELSE recheck_pending END,
    recheck_at = CASE WHEN distrusted_at IS NULL THEN @recheckAt ELSE recheck_at END,
    distrusted_at = COALESCE(distrusted_at, @now) WHERE id = @id`,
  // Moved at most once a minute: a message is not worth a write of its own.
  seen: `UPDATE hosts SET last_seen_at = @now WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(@ids))
    AND last_seen_at < @now - 60000`,
  // Written only when it moves: a host at the top (or bottom) costs no page write.
  quotaLevel: `UPDATE hosts SET quota_level = MAX(@min, MIN(@max, quota_level + @step))
    WHERE id = @id AND quota_level <> MAX(@min, MIN(@max, quota_level + @step))`,
  appQuota: 'SELECT level, day, used FROM host_app_quotas WHERE host_id = ? AND app_id = ?',
  // An app's level starts from its host's.
  appQuotaLevel: `INSERT INTO host_app_quotas (host_id, app_id, level)
    SELECT id, @app, MAX(@min, MIN(@max, quota_level + @step)) FROM hosts WHERE id = @id
    ON CONFLICT (host_id, app_id) DO UPDATE SET level = MAX(@min, MIN(@max, host_app_quotas.level + @step))
      WHERE host_app_quotas.level <> MAX(@min, MIN(@max, host_app_quotas.level + @step))`,
  tookTasks: `INSERT INTO host_app_quotas (host_id, app_id, level, day, used)
    SELECT id, @app, quota_level, @day, @n FROM hosts WHERE id = @id
    ON CONFLICT (host_id, app_id) DO UPDATE
      SET used = CASE WHEN host_app_quotas.day = @day THEN host_app_quotas.used + @n ELSE @n END, day = @day`,
  toRecheck: 'SELECT id FROM hosts WHERE recheck_pending = 1 AND COALESCE(recheck_at, 0) <= ? ORDER BY id',
  nextRecheck: 'SELECT MIN(COALESCE(recheck_at, 0)) AS at FROM hosts WHERE recheck_pending = 1',
  rechecked: 'UPDATE hosts SET recheck_pending = 0 WHERE id = ?',
};
for (const table of ['hosts', 'users', 'teams'] as const) {
  SQL[`credit_${table}`] = `SELECT rac, rac_time FROM ${table} WHERE id = ?`;
  SQL[`credits_${table}`] = `SELECT id, rac, rac_time FROM ${table} WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_each(?))`;
  SQL[`add_${table}`] = `UPDATE ${table} SET total_credit_micro = total_credit_micro + ?, rac = ?, rac_time = ? WHERE id = ?`;
  SQL[`add_many_${table}`] = `UPDATE ${table} SET total_credit_micro = total_credit_micro + CAST(json_extract(j.value, '$.micro') AS BIGINT),
    rac = CAST(json_extract(j.value, '$.rac') AS DOUBLE PRECISION), rac_time = CAST(json_extract(j.value, '$.time') AS BIGINT)
    FROM json_each(@credits) AS j WHERE ${table}.id = CAST(json_extract(j.value, '$.id') AS BIGINT)
    AND ${table}.id IN (SELECT CAST(json_extract(value, '$.id') AS BIGINT) FROM json_each(@credits))`;
}

export class IdentityStore {
  constructor(private readonly sql: SqlExecutor) {}

  async hostByKey(publicKey: string): Promise<HostRecord | undefined> {
    const row = (await this.sql.get(SQL.hostByKey!, [publicKey])) as HostRow | undefined;
    return row && toHost(row);
  }

  async hostById(id: number): Promise<HostRecord | undefined> {
    const row = (await this.sql.get(SQL.hostById!, [id])) as HostRow | undefined;
    return row && toHost(row);
  }

  /** `instance`: the instance the host is connecting to (migration 19). */
  async insertHost(h: { publicKey: string; userId: number; name: string | null; platform: Platform; platformClass: string; capabilities: Capabilities; now: number; instance: string | null }): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertHost!, [h.publicKey, h.userId, h.name, h.platform.kind, h.platformClass, JSON.stringify(h.platform), JSON.stringify(h.capabilities), h.now, h.now, h.instance]))!.id;
  }

  async updateHost(id: number, h: { userId: number; name: string | null; platform: Platform; platformClass: string; capabilities: Capabilities; now: number; instance: string | null }): Promise<void> {
    await this.sql.run(SQL.updateHost!, [h.userId, h.name, h.platform.kind, h.platformClass, JSON.stringify(h.platform), JSON.stringify(h.capabilities), h.now, h.instance, id]);
  }

  async insertUser(u: { name: string; accountKeyHash: string | null; teamId: number | null; now: number }): Promise<number> {
    return (await this.sql.get<{ id: number }>(SQL.insertUser!, [u.name, u.accountKeyHash, u.teamId, u.now]))!.id;
  }

  async userById(id: number): Promise<UserRecord | undefined> {
    return toUser(await this.sql.get(SQL.userById!, [id]));
  }

  async userByAccountKeyHash(hash: string): Promise<UserRecord | undefined> {
    return toUser(await this.sql.get(SQL.userByKeyHash!, [hash]));
  }

  async teamIdByName(name: string, now: number): Promise<number> {
    const row = (await this.sql.get(SQL.teamByName!, [name])) as { id: number } | undefined;
    return row ? row.id : (await this.sql.get<{ id: number }>(SQL.insertTeam!, [name, now]))!.id;
  }

  /**
   * Trust for adaptive replication: a valid result raises it by `weight` (0 for an unchecked
   * one). These record trust only: the counts of results follow the replicas (migration 9).
   */
  async recordValid(hostId: number, weight: 0 | 1): Promise<void> {
    if (weight === 0) return;
    await this.sql.run(SQL.trustValid!, [weight, hostId]);
  }

  /** As recordValid for a valid result of each host (a verdict's), in one statement. */
  async recordValidOfHosts(hostIds: readonly number[], weight: 0 | 1): Promise<void> {
    if (weight === 0 || hostIds.length === 0) return;
    // One result a host: a host named twice would be raised once.
    if (new Set(hostIds).size !== hostIds.length) throw new Error(`a verdict credits host ${hostIds.find((h, i) => hostIds.indexOf(h) !== i)} twice`);
    if (this.sql.hold) {
      for (const id of hostIds) this.sql.hold(TRUST_VALID, id, weight);
      return;
    }
    if (hostIds.length === 1) return this.recordValid(hostIds[0]!, weight);
    await this.sql.run(SQL.trustValidOfHosts!, [weight, JSON.stringify(hostIds)]);
  }

  /** An invalid result: trust starts over. */
  async recordInvalid(hostId: number): Promise<void> {
    await this.sql.run(SQL.trustInvalid!, [hostId]);
  }

  /** A client error: trust starts over, as for an invalid result. */
  async recordError(hostId: number): Promise<void> {
    await this.sql.run(SQL.trustError!, [hostId]);
  }

  /**
   * A right answer to a check (a sentinel, or a result checked against its canonical one): trust,
   * and after `threshold` in a row a distrusted host is trusted again.
   */
  async recordCheckPassed(hostId: number, threshold: number, distrusted: boolean): Promise<void> {
    // A host not distrusted (as this transaction read it) has no trust to win back: on PostgreSQL
    // its counts are raised with the report's other writes, not by a statement of their own.
    if (this.sql.hold && !distrusted) return this.sql.hold(CHECKS_PASSED, hostId, 1);
    await this.sql.run(SQL.checkPassed!, { id: hostId, threshold });
  }

  /**
   * A wrong answer to a check: no trust, distrusted since `now` (if it was not already), and its
   * earlier valid results to be checked again from `recheckAt` on.
   */
  async recordCheckFailed(hostId: number, now: number, recheckAt: number): Promise<void> {
    await this.sql.run(SQL.checkFailed!, { id: hostId, now, recheckAt });
  }

  /** The hosts were heard from at `now`. */
  async seen(hostIds: Iterable<number>, now: number): Promise<void> {
    const ids = [...hostIds];
    if (ids.length > 0) await this.sql.run(SQL.seen!, { ids: JSON.stringify(ids), now });
  }

  /** Its allowance of tasks in flight doubles (+1) or halves (-1), within the levels given. */
  async stepQuota(hostId: number, step: 1 | -1, bounds: { min: number; max: number }): Promise<void> {
    await this.stepOnce(`quota.${hostId}`, step, () => this.sql.run(SQL.quotaLevel!, { id: hostId, step, ...bounds }));
  }

  /**
   * A step that moved nothing (the level is at its bound) moves nothing again until a step the
   * other way: the transaction remembers it, so a host at the top costs no statement per valid
   * result. Levels move only here (and a host's app level starts from its host level when made).
   */
  private async stepOnce(level: string, step: 1 | -1, run: () => Promise<{ changes: number }>): Promise<void> {
    const memo = this.sql.memo;
    if (memo?.get(`${level}.${step}`) === true) return;
    const { changes } = await run();
    memo?.delete(`${level}.${-step}`);
    if (changes === 0) memo?.set(`${level}.${step}`, true);
  }

  /** Its tasks a day for an app, if it has taken any. */
  async appQuota(hostId: number, appId: number): Promise<AppQuota | undefined> {
    return (await this.sql.get(SQL.appQuota!, [hostId, appId])) as AppQuota | undefined;
  }

  /** Its tasks a day for an app double (+1) or halve (-1), within the levels given. */
  async stepAppQuota(hostId: number, appId: number, step: 1 | -1, bounds: { min: number; max: number }): Promise<void> {
    await this.stepOnce(`quota.${hostId}.app.${appId}`, step, () => this.sql.run(SQL.appQuotaLevel!, { id: hostId, app: appId, step, ...bounds }));
  }

  /** Counts tasks of an app given to the host against its quota for the day. */
  async tookTasks(hostId: number, appId: number, day: number, n: number): Promise<void> {
    if (n > 0) await this.sql.run(SQL.tookTasks!, { id: hostId, app: appId, day, n });
  }

  async hostsToRecheck(now: number): Promise<number[]> {
    return ((await this.sql.all(SQL.toRecheck!, [now])) as { id: number }[]).map((r) => r.id);
  }

  /** When the next re-check falls due, if any is pending. */
  async nextRecheckAt(): Promise<number | undefined> {
    return ((await this.sql.get(SQL.nextRecheck!)) as { at: number | null }).at ?? undefined;
  }

  async markRechecked(hostId: number): Promise<void> {
    await this.sql.run(SQL.rechecked!, [hostId]);
  }

  /**
   * A holder's recent average. Only addCredit writes it, under the ledger's turn (PostgreSQL) or
   * the one writer (SQLite): in a transaction, what it wrote last is still what the row holds, so
   * a host or user credited again in the same transaction costs no read.
   */
  async creditAverage(holder: CreditHolder, id: number): Promise<Average> {
    const known = this.sql.memo?.get(`average.${holder}.${id}`) as Average | undefined;
    if (known) return known;
    const row = (await this.sql.get(SQL[`credit_${holder}`]!, [id])) as { rac: number; rac_time: number };
    return { rac: row.rac, time: row.rac_time };
  }

  /**
   * Reads the recent averages of these holders into the transaction's memo, in one statement:
   * creditAverage then costs none for them. Only under the ledger's turn (see creditAverage).
   */
  async knowAverages(holder: CreditHolder, ids: Iterable<number>): Promise<void> {
    const memo = this.sql.memo;
    if (!memo) return;
    const unknown = [...new Set(ids)].filter((id) => !memo.has(`average.${holder}.${id}`));
    if (unknown.length === 0) return;
    const rows = (await this.sql.all(SQL[`credits_${holder}`]!, [JSON.stringify(unknown)])) as { id: number; rac: number; rac_time: number }[];
    for (const r of rows) memo.set(`average.${holder}.${r.id}`, { rac: r.rac, time: r.rac_time } satisfies Average);
  }

  async addCredit(holder: CreditHolder, id: number, micro: number, avg: Average): Promise<void> {
    await this.sql.run(SQL[`add_${holder}`]!, [micro, avg.rac, avg.time, id]);
    this.sql.memo?.set(`average.${holder}.${id}`, avg);
  }

  /**
   * As addCredit for several holders of one kind: on PostgreSQL in one statement (a round trip
   * each is what a message's transaction waits for); on SQLite, whose statements cost no round
   * trip, one each, so that each average is bound as the exact double it is.
   */
  async addCredits(holder: CreditHolder, credits: readonly { id: number; micro: number; avg: Average }[]): Promise<void> {
    if (this.sql.dialect === 'sqlite' || credits.length === 1) {
      for (const c of credits) await this.addCredit(holder, c.id, c.micro, c.avg);
      return;
    }
    if (credits.length === 0) return;
    // JSON carries a double as the shortest text that reads back as the same double.
    await this.sql.run(SQL[`add_many_${holder}`]!, { credits: JSON.stringify(credits.map((c) => ({ id: c.id, micro: c.micro, rac: c.avg.rac, time: c.avg.time }))) });
    for (const c of credits) this.sql.memo?.set(`average.${holder}.${c.id}`, c.avg);
  }
}

function toUser(row: unknown): UserRecord | undefined {
  if (!row) return undefined;
  const r = row as { id: number; name: string; team_id: number | null; total_credit_micro: number; rac: number; rac_time: number };
  return { id: r.id, name: r.name, teamId: r.team_id, totalCreditMicro: r.total_credit_micro, rac: r.rac, racTime: r.rac_time };
}
