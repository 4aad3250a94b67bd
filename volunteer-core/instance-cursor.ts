// Where a volunteer's link is in its order of coordinator instances (instance-order.ts), and
// where it goes next: a failed attempt or a lost connection moves it to the next instance in the
// order, the one just tried coming last; once every instance has failed in a row the round is
// over, and the link waits longer before starting again from its first choice. Pure state: the
// link (coordinator-link.ts) does the waiting and the connecting.

export type Step =
  /** Another instance is still untried this round: try it soon. */
  | { kind: 'failover'; url: string }
  /** Every instance failed in a row: wait (backing off) and start again from the first choice. */
  | { kind: 'round-over'; url: string };

export class InstanceCursor {
  private order: string[];
  private index = 0;
  /** Instances that failed in a row since the last connection or the last round's end. */
  private failed = 0;
  /** The URL in use when a new order left it out: kept until the link moves. */
  private offList: string | undefined;

  constructor(order: readonly string[]) {
    if (order.length === 0) throw new Error('a volunteer needs at least one coordinator URL');
    this.order = [...order];
  }

  /** The instance the link is on, or tries next. */
  get url(): string {
    return this.offList ?? this.order[this.index]!;
  }

  /** The instances in this host's order. */
  get instances(): readonly string[] {
    return this.order;
  }

  /** Whether the link is on (or trying) its first choice. */
  get atFirstChoice(): boolean {
    return this.offList === undefined && this.index === 0;
  }

  /** Its place in the order, counted from 1; undefined for a URL the order no longer lists. */
  get rank(): number | undefined {
    return this.offList === undefined ? this.index + 1 : undefined;
  }

  /** The link connected where the cursor points. */
  connected(): void {
    this.failed = 0;
  }

  /** The attempt where the cursor points failed, or its connection was lost. */
  failure(): Step {
    if (this.offList !== undefined) {
      this.offList = undefined;
      this.index = 0;
      return { kind: 'failover', url: this.url };
    }
    this.failed++;
    if (this.failed >= this.order.length) {
      this.failed = 0;
      this.index = 0;
      return { kind: 'round-over', url: this.url };
    }
    this.index = (this.index + 1) % this.order.length;
    return { kind: 'failover', url: this.url };
  }

  /** Back to the first choice (moving back to it at a safe point). */
  first(): void {
    this.offList = undefined;
    this.index = 0;
    this.failed = 0;
  }

  /** A new order (the discovery document changed): the link stays where it is, listed or not. */
  reorder(order: readonly string[]): void {
    if (order.length === 0) return;
    const current = this.url;
    this.order = [...order];
    const at = this.order.indexOf(current);
    this.index = Math.max(0, at);
    this.offList = at < 0 ? current : undefined;
    this.failed = 0;
  }
}
