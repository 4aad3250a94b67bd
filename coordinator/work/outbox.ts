// What the hosts must be told once a transaction has committed: never before, so a host is
// never told of an abort or a credit grant that a crash could undo.
import type { CreditReceipt, TaskVerdict } from '../../protocol/messages.js';

export interface HostNotifier {
  abort(hostId: number, taskIds: number[], reason: string): void;
  credit(hostId: number, receipts: CreditReceipt[]): void;
  /** Results of the host judged as it may be told at once (host-verdicts.ts): a lost quorum vote. */
  judged?(hostId: number, verdicts: TaskVerdict[]): void;
  /** Batches whose work units or replicas changed: for researchers watching them live. */
  batchesChanged?(batchIds: number[]): void;
  /** Hosts caught by a sentinel, whose earlier results must now be checked again. */
  hostsDistrusted?(hostIds: number[]): void;
  /** Unsent replicas were made: hosts that found no work may find some now. */
  workAvailable?(): void;
}

export class Outbox {
  private readonly aborts = new Map<string, { hostId: number; reason: string; taskIds: number[] }>();
  private readonly receipts = new Map<number, CreditReceipt[]>();
  private readonly verdicts = new Map<number, TaskVerdict[]>();
  private readonly batches = new Set<number>();
  private readonly distrusted = new Set<number>();
  private work = false;

  /** `taskId`: the id the host knows the task by (task-ids.ts), not its replica's. */
  abort(hostId: number, taskId: number, reason: string): void {
    const key = `${hostId}\u0000${reason}`;
    const entry = this.aborts.get(key) ?? { hostId, reason, taskIds: [] };
    entry.taskIds.push(taskId);
    this.aborts.set(key, entry);
  }

  receipt(hostId: number, receipt: CreditReceipt): void {
    const list = this.receipts.get(hostId) ?? [];
    list.push(receipt);
    this.receipts.set(hostId, list);
  }

  /** `taskId`: the id the host knows the task by. */
  judged(hostId: number, taskId: number, verdict: TaskVerdict['verdict']): void {
    const list = this.verdicts.get(hostId) ?? [];
    list.push({ taskId, verdict });
    this.verdicts.set(hostId, list);
  }

  batchChanged(batchId: number): void {
    this.batches.add(batchId);
  }

  hostDistrusted(hostId: number): void {
    this.distrusted.add(hostId);
  }

  workAvailable(): void {
    this.work = true;
  }

  flush(notifier: HostNotifier): void {
    if (this.distrusted.size > 0) notifier.hostsDistrusted?.([...this.distrusted]);
    if (this.batches.size > 0) notifier.batchesChanged?.([...this.batches]);
    if (this.work) notifier.workAvailable?.();
    this.work = false;
    for (const a of this.aborts.values()) notifier.abort(a.hostId, a.taskIds, a.reason);
    for (const [hostId, list] of this.receipts) notifier.credit(hostId, list);
    for (const [hostId, list] of this.verdicts) notifier.judged?.(hostId, list);
    this.aborts.clear();
    this.receipts.clear();
    this.verdicts.clear();
    this.batches.clear();
    this.distrusted.clear();
  }
}
