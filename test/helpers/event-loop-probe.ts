// What a request costs the coordinator running in this process, measured by the test itself: a
// 10 ms timer counts its turns and the largest gap between two of them (how long the event loop
// was held), and samples the resident memory at each turn (how much it grew).
export interface Probed<T> {
  result: T;
  /** The longest the event loop went without running the probe, beyond its 10 ms period. */
  maxGapMs: number;
  /** The most the resident set grew above where it was at the start. */
  rssGrowthBytes: number;
  turns: number;
  ms: number;
}

export async function probeEventLoop<T>(run: () => Promise<T>): Promise<Probed<T>> {
  const startRss = process.memoryUsage.rss();
  let maxRss = startRss;
  let maxGapMs = 0;
  let turns = 0;
  let last = performance.now();
  const started = last;
  const probe = setInterval(() => {
    turns++;
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last - 10);
    last = now;
    maxRss = Math.max(maxRss, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await run();
    // The gap that ends with the answer counts too.
    maxGapMs = Math.max(maxGapMs, performance.now() - last - 10);
    maxRss = Math.max(maxRss, process.memoryUsage.rss());
    return { result, maxGapMs: Math.round(maxGapMs), rssGrowthBytes: maxRss - startRss, turns, ms: Math.round(performance.now() - started) };
  } finally {
    clearInterval(probe);
  }
}
