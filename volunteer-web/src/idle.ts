// Whether the volunteer is using the computer, for the "only when idle" schedule. Where the
// browser grants it, the Idle Detection API says so for the whole system (Chromium, after the
// volunteer allows it: a permission the page must ask for with a click). Elsewhere the page sees
// only input on itself (pointer, keys, wheel, touch), and says so: typing in another window
// counts as idle here.

interface IdleDetectorLike extends EventTarget {
  readonly userState: 'active' | 'idle' | null;
  readonly screenState: 'locked' | 'unlocked' | null;
  start(options: { threshold: number; signal: AbortSignal }): Promise<void>;
}
interface IdleDetectorClass {
  new (): IdleDetectorLike;
  requestPermission(): Promise<'granted' | 'denied'>;
}

/** What the browser lets the page know. */
export type IdleSupport =
  /** The Idle Detection API runs: input anywhere on the computer counts. */
  | 'system'
  /** The API exists, the volunteer has not allowed it (yet): input on this page only. */
  | 'ask'
  /** The API exists and was refused, or cannot run here: input on this page only. */
  | 'denied'
  /** No such API in this browser: input on this page only. */
  | 'none';

export interface IdleState {
  lastInputAt: number;
  /** From the Idle Detection API when it runs. */
  systemIdle?: boolean;
  support: IdleSupport;
}

/** The API's smallest threshold. */
const MIN_THRESHOLD_MS = 60_000;
const INPUT_EVENTS = ['pointermove', 'pointerdown', 'keydown', 'wheel', 'touchstart'] as const;

export class IdleWatcher {
  readonly state: IdleState = { lastInputAt: Date.now(), support: 'none' };
  private detector: AbortController | undefined;
  private thresholdMs = 5 * 60_000;

  constructor(private readonly onChange: () => void) {
    for (const type of INPUT_EVENTS) {
      addEventListener(
        type,
        () => {
          const now = Date.now();
          const wasIdle = now - this.state.lastInputAt > 1_000;
          this.state.lastInputAt = now;
          if (wasIdle) this.onChange(); // at the first input after a quiet second: a pause starts at once
        },
        { passive: true, capture: true },
      );
    }
    const api = this.api();
    if (!api) return;
    this.state.support = 'ask';
    void navigator.permissions
      ?.query({ name: 'idle-detection' as PermissionName })
      .then((p) => {
        if (p.state === 'granted') void this.startDetector();
        else if (p.state === 'denied') this.setSupport('denied');
      })
      .catch(() => undefined);
  }

  /** The volunteer's idle minutes: the system detector's threshold (at least a minute). */
  setThreshold(minutes: number): void {
    const ms = Math.max(MIN_THRESHOLD_MS, Math.round(minutes * 60_000));
    if (ms === this.thresholdMs) return;
    this.thresholdMs = ms;
    if (this.detector) void this.startDetector();
  }

  /** Asks the browser for the Idle Detection permission (call from a click). */
  async requestSystem(): Promise<void> {
    const api = this.api();
    if (!api) return;
    try {
      if ((await api.requestPermission()) === 'granted') return this.startDetector();
    } catch {
      // refused, or not from a user gesture
    }
    this.setSupport('denied');
  }

  private api(): IdleDetectorClass | undefined {
    return (globalThis as { IdleDetector?: IdleDetectorClass }).IdleDetector;
  }

  private async startDetector(): Promise<void> {
    const api = this.api();
    if (!api) return;
    this.detector?.abort();
    const controller = (this.detector = new AbortController());
    try {
      const d = new api();
      const read = () => {
        this.state.systemIdle = d.userState === 'idle' || d.screenState === 'locked';
        this.onChange();
      };
      d.addEventListener('change', read);
      await d.start({ threshold: this.thresholdMs, signal: controller.signal });
      this.setSupport('system');
      read();
    } catch {
      if (controller !== this.detector) return;
      this.detector = undefined;
      delete this.state.systemIdle;
      this.setSupport('denied');
    }
  }

  private setSupport(support: IdleSupport): void {
    this.state.support = support;
    if (support !== 'system') delete this.state.systemIdle;
    this.onChange();
  }
}
