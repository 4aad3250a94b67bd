// Worlds for judging hosts: sentinels and checks through the real store, with a hand-driven
// clock, the lottery that decides which task slots are checks, and what to look at afterwards.
import { expect } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { creditAmount, creditUnits, verifyLedgerChain } from '../../protocol/ledger.js';
import type { Task } from '../../protocol/messages.js';
import type { CoreOptions } from '../../coordinator/core.js';
import { addToAverage, microForFpops, type Average } from '../../coordinator/work/credit.js';
import { DEFAULT_REPLICATION, type Replication } from '../../coordinator/work/model.js';
import { createWorld, type World, type WorldHost } from './world.js';

/** What one valid replica earns at the default fpopsEst, in micro-credits (totals count these). */
export const CREDIT_MICRO = microForFpops(DEFAULT_REPLICATION.fpopsEst);
/** The same as a receipt's amount: a decimal number of credits. */
export const CREDIT = creditAmount(CREDIT_MICRO);

export interface Unit {
  input: unknown;
  expectedOutput?: unknown;
  replication?: Partial<Replication>;
}

// Every task's right answer echoes its input, so a sentinel's known answer is that echo too.
export const regular = (tag: string, replication?: Partial<Replication>): Unit => ({ input: { r: tag }, ...(replication ? { replication } : {}) });
export const sentinel = (n: number, replication?: Partial<Replication>): Unit => ({
  input: { s: n },
  expectedOutput: { echo: { s: n } },
  ...(replication ? { replication } : {}),
});
export const right = (t: Task) => ({ output: { echo: t.input } });
/** What colluders agree on, and what a careless host returns. */
export const forged = () => ({ output: { echo: 'forged' } });

export async function submit(w: World, appId: number, units: Unit[], replication: Partial<Replication> = {}): Promise<number> {
  return (await w.core.submission.submitBatch({ appId, name: 'sentinels', replication, workunits: units as never[] }, w.now())).batchId;
}

export async function answer(host: WorldHost, task: Task, outcome: { output: unknown }): Promise<void> {
  expect((await host.report(host.result(task, outcome)))).toEqual([{ taskId: task.taskId, status: 'accepted' }]);
}

export const replicas = async (w: World, wuId: number) => (await w.core.store.work.replicasOf(wuId));
export const wu = async (w: World, id: number) => (await w.core.store.work.workunit(id))!;
export const replicaOf = async (w: World, task: Task) => (await replicas(w, w.workunitOf(task))).find((r) => r.id === w.replicaIdOf(task))!;
/** A replica's net credit in micro-credits (null before any ledger entry). */
export const creditOf = (w: World, replicaId: number) =>
  (w.core.store.db.prepare('SELECT credit_micro AS c FROM replicas WHERE id = ?').get(replicaId) as { c: number | null }).c;

export interface HostRow {
  consecutive_valid: number;
  n_valid: number;
  n_invalid: number;
  sentinels_passed: number;
  sentinels_failed: number;
  distrusted_at: number | null;
  recheck_pending: number;
  total_credit_micro: number;
}
export function hostRow(w: World, hostId: number): HostRow {
  return w.core.store.db
    .prepare(`SELECT consecutive_valid, n_valid, n_invalid, sentinels_passed, sentinels_failed, distrusted_at, recheck_pending,
      total_credit_micro FROM hosts WHERE id = ?`)
    .get(hostId) as HostRow;
}

/** The ledger as task id (what receipts name) → the amounts of its entries, in order. */
export const ledgerByTask = (w: World) => ledgerBy(w, 'COALESCE(task_id, replica_id)');
/** The same by replica id. */
export const ledgerByReplica = (w: World) => ledgerBy(w, 'replica_id');

function ledgerBy(w: World, key: string): Record<number, number[]> {
  const rows = w.core.store.db.prepare(`SELECT ${key} AS r, amount FROM credit_ledger ORDER BY id`).all() as { r: number; amount: number }[];
  const out: Record<number, number[]> = {};
  for (const { r, amount } of rows) (out[r] ??= []).push(amount);
  return out;
}

/**
 * The chain verifies; every entry's amount is exactly its micro-credits; and every total (host,
 * user, team) and replica credit is exactly what the ledger's micro-credits sum to.
 */
export async function expectLedgerConsistent(w: World): Promise<void> {
  const entries = await w.core.store.ledger.entriesAfter(0, 100_000);
  expect(verifyLedgerChain(nodeEd25519(), w.core.key.publicKey, entries)).toBeUndefined();
  const db = w.core.store.db;
  const units = db.prepare('SELECT id, amount, micro FROM credit_ledger ORDER BY id').all() as { id: number; amount: number; micro: number }[];
  for (const e of units) {
    expect(creditUnits(e.amount), `entry ${e.id}`).toBe(e.micro);
    expect(creditAmount(e.micro), `entry ${e.id}`).toBe(e.amount);
  }
  for (const [table, column] of [['hosts', 'host_id'], ['users', 'user_id'], ['teams', 'team_id']] as const) {
    const rows = db
      .prepare(`SELECT t.id, t.total_credit_micro AS total, (SELECT COALESCE(SUM(l.micro), 0) FROM credit_ledger l WHERE l.${column} = t.id) AS sum
        FROM ${table} t`)
      .all() as { id: number; total: number; sum: number }[];
    for (const r of rows) expect(r.total, `${table} ${r.id}`).toBe(r.sum);
    // Each holder's recent average is its entries added in ledger order, to the last bit.
    const replayed = new Map<number, Average>();
    for (const e of db.prepare(`SELECT ${column} AS holder, amount, granted_at AS at FROM credit_ledger WHERE ${column} IS NOT NULL ORDER BY id`).all() as { holder: number; amount: number; at: number }[]) {
      replayed.set(e.holder, addToAverage(replayed.get(e.holder) ?? { rac: 0, time: 0 }, e.amount, e.at));
    }
    for (const r of db.prepare(`SELECT id, rac, rac_time AS time FROM ${table}`).all() as { id: number; rac: number; time: number }[]) {
      expect({ rac: r.rac, time: r.time }, `${table} ${r.id}: recent average`).toEqual(replayed.get(r.id) ?? { rac: 0, time: 0 });
    }
  }
  const perReplica = db
    .prepare('SELECT r.id, r.credit_micro AS credit, SUM(l.micro) AS net FROM credit_ledger l JOIN replicas r ON r.id = l.replica_id GROUP BY r.id')
    .all() as { id: number; credit: number; net: number }[];
  for (const r of perReplica) expect(r.credit, `replica ${r.id}`).toBe(r.net);
}

/** A world whose check lottery is decided by `roll.value`: below 0.5 a task slot is a check. */
export function lotteryWorld(options: Partial<CoreOptions> = {}): { world: World; roll: { value: number } } {
  const roll = { value: 0.9 };
  return { world: createWorld({ checkRate: 0.5, ...options }, () => roll.value), roll };
}
export const SENTINEL = 0.1;
export const REGULAR = 0.9;
