import { describe, expect, it } from 'vitest';
import {
  addToAverage,
  COBBLESTONES_PER_FLOP,
  creditableCpuMs,
  creditForFpops,
  decayAverage,
  grantMicro,
  lowerMedian,
  microForCpuMs,
  microForFpops,
  RAC_HALF_LIFE_MS,
  REFERENCE_CORE_FLOPS,
  type Average,
} from '../../coordinator/work/credit.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 1);

/** Relative difference of `actual` from `expected`. */
const relErr = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

describe('creditForFpops (cobblestones)', () => {
  it('gives 200 credits for a day of computing at 1 GFLOPS', () => {
    expect(creditForFpops(86_400 * 1e9)).toBeCloseTo(200, 9);
  });

  it('is proportional to the estimated operations', () => {
    expect(creditForFpops(0)).toBe(0);
    expect(creditForFpops(43_200 * 1e9)).toBeCloseTo(100, 9); // half a day at 1 GFLOPS
    expect(creditForFpops(86_400 * 10e9)).toBeCloseTo(2000, 9); // a day at 10 GFLOPS
    expect(creditForFpops(3e13)).toBeCloseTo(3 * creditForFpops(1e13), 9);
  });

  it('uses 200 / (86400 · 10⁹) credits per operation', () => {
    expect(COBBLESTONES_PER_FLOP).toBeCloseTo(200 / 86_400e9, 20);
  });
});

describe('in micro-credits', () => {
  it('an estimate, to the nearest micro-credit', () => {
    expect(microForFpops(86_400 * 1e9)).toBe(200_000_000);
    expect(microForFpops(1e10)).toBe(23_148);
    expect(microForFpops(1e21)).toBe(2_314_814_814_814_815);
  });

  it('measured CPU time, on a reference core of 10 GFLOPS: 2,000 credits a CPU-day', () => {
    expect(REFERENCE_CORE_FLOPS).toBe(10e9);
    expect(microForCpuMs(DAY)).toBe(2_000_000_000);
    expect(microForCpuMs(1000)).toBe(microForFpops(REFERENCE_CORE_FLOPS));
    expect(microForCpuMs(0)).toBe(0);
    expect(Number.isSafeInteger(microForCpuMs(1e12))).toBe(true); // the most a result may report
  });
});

describe('lowerMedian', () => {
  it('is the smaller of two, the middle of three, the lower middle of four', () => {
    expect(lowerMedian([5])).toBe(5);
    expect(lowerMedian([9, 2])).toBe(2);
    expect(lowerMedian([1e12, 3, 1])).toBe(3);
    expect(lowerMedian([4, 1, 1e12, 2])).toBe(2);
    expect(() => lowerMedian([])).toThrow();
  });
});

describe('grantMicro', () => {
  const bounds = { fpopsEst: 1e21, ownCpuMs: 2_000, validCpuMs: [2_000, 3_000], capMicro: 1_000_000_000 };

  it('is the least of the estimate, the measured CPU time and the cap', () => {
    expect(grantMicro(bounds)).toBe(46_296);
    expect(grantMicro({ ...bounds, fpopsEst: 1e10 })).toBe(23_148);
    expect(grantMicro({ ...bounds, capMicro: 10_000 })).toBe(10_000);
    expect(grantMicro({ ...bounds, capMicro: 0 })).toBe(0);
  });

  it('gives a host that claims more CPU time than its partner no more than the partner measured', () => {
    expect(grantMicro({ ...bounds, ownCpuMs: 1e12, validCpuMs: [1e12, 2_000] })).toBe(46_296);
  });

  it('gives no host more than its own CPU time', () => {
    expect(grantMicro({ ...bounds, ownCpuMs: 1_000, validCpuMs: [1_000, 2_000, 3_000] })).toBe(23_148);
  });

  it('bounds a result accepted alone by its own CPU time', () => {
    expect(grantMicro({ ...bounds, ownCpuMs: 5_000, validCpuMs: [5_000] })).toBe(115_741);
    expect(grantMicro({ ...bounds, ownCpuMs: 5_000, validCpuMs: [] })).toBe(115_741);
  });
});

describe('creditableCpuMs', () => {
  const sentAt = T0;

  it('is the CPU time a host claims, no more than the coordinator saw its task out', () => {
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt, receivedAt: sentAt + 2_500 })).toBe(2_000);
    expect(creditableCpuMs({ cpuTimeMs: 1e12, sentAt, receivedAt: sentAt + 3_000 })).toBe(3_000);
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt, receivedAt: sentAt + 2_000 })).toBe(2_000);
    expect(creditableCpuMs({ cpuTimeMs: 12.5, sentAt, receivedAt: sentAt + 40 })).toBe(12.5);
  });

  it('is nothing when the coordinator saw no time pass, or has no record of when', () => {
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt, receivedAt: sentAt })).toBe(0);
    // The clock set back between the two.
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt, receivedAt: sentAt - 5_000 })).toBe(0);
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt: null, receivedAt: sentAt })).toBe(0);
    expect(creditableCpuMs({ cpuTimeMs: 2_000, sentAt, receivedAt: null })).toBe(0);
  });

  it('bounds colluders who all inflate their CPU time by the time each held its task', () => {
    const results = [
      { cpuTimeMs: 1e12, sentAt, receivedAt: sentAt + 4_000 },
      { cpuTimeMs: 1e12, sentAt: sentAt + 1_000, receivedAt: sentAt + 3_000 },
    ].map(creditableCpuMs);
    expect(results).toEqual([4_000, 2_000]);
    expect(grantMicro({ fpopsEst: 1e21, ownCpuMs: results[0]!, validCpuMs: results, capMicro: 1_000_000_000 })).toBe(microForCpuMs(2_000));
  });
});

describe('recent average credit', () => {
  it('has a half-life of 7 days', () => {
    expect(RAC_HALF_LIFE_MS).toBe(7 * DAY);
  });

  describe('decayAverage', () => {
    it('halves after 7 days without work', () => {
      const later = decayAverage({ rac: 100, time: T0 }, T0 + 7 * DAY);
      expect(later.rac).toBeCloseTo(50, 9);
      expect(later.time).toBe(T0 + 7 * DAY);
    });

    it('quarters after 14 days, and decays gradually in between', () => {
      expect(decayAverage({ rac: 100, time: T0 }, T0 + 14 * DAY).rac).toBeCloseTo(25, 9);
      const oneDay = decayAverage({ rac: 100, time: T0 }, T0 + DAY).rac;
      expect(oneDay).toBeCloseTo(100 * 0.5 ** (1 / 7), 9);
      expect(oneDay).toBeLessThan(100);
      expect(oneDay).toBeGreaterThan(50);
    });

    it('does not decay when no time has passed', () => {
      expect(decayAverage({ rac: 100, time: T0 }, T0)).toEqual({ rac: 100, time: T0 });
    });

    it('never grows or moves back in time when the clock is behind', () => {
      expect(decayAverage({ rac: 100, time: T0 }, T0 - HOUR)).toEqual({ rac: 100, time: T0 });
    });

    it('decays the same in one step as in many', () => {
      let avg: Average = { rac: 80, time: T0 };
      for (let d = 1; d <= 10; d++) avg = decayAverage(avg, T0 + d * DAY);
      expect(avg.rac).toBeCloseTo(decayAverage({ rac: 80, time: T0 }, T0 + 10 * DAY).rac, 9);
    });
  });

  describe('addToAverage', () => {
    it('adds to the average without decay when no time has passed', () => {
      const a = addToAverage({ rac: 100, time: T0 }, 70, T0);
      const b = addToAverage({ rac: 100, time: T0 }, 140, T0);
      expect(a.time).toBe(T0);
      expect(a.rac).toBeGreaterThan(100);
      // Linear in the amount: twice the grant adds twice as much.
      expect(b.rac - 100).toBeCloseTo(2 * (a.rac - 100), 9);
    });

    it('decays the old average to the grant time before adding', () => {
      const start: Average = { rac: 100, time: T0 };
      const added = addToAverage(start, 10, T0 + 7 * DAY);
      const increment = addToAverage({ rac: 0, time: T0 + 7 * DAY }, 10, T0 + 7 * DAY).rac;
      expect(added.rac).toBeCloseTo(50 + increment, 9);
      expect(added.time).toBe(T0 + 7 * DAY);
    });

    it('halves 7 days after a grant with no further work', () => {
      const granted = addToAverage({ rac: 0, time: 0 }, 500, T0);
      expect(decayAverage(granted, T0 + 7 * DAY).rac).toBeCloseTo(granted.rac / 2, 9);
    });

    it('converges to about 100 for a steady 100 credits a day over 60 days (hourly grants)', () => {
      let avg: Average = { rac: 0, time: 0 };
      for (let h = 0; h < 60 * 24; h++) avg = addToAverage(avg, 100 / 24, T0 + h * HOUR);
      expect(relErr(avg.rac, 100)).toBeLessThan(0.02);
    });

    it('averages about 100 over a day for 100 credits granted once a day over 60 days', () => {
      let avg: Average = { rac: 0, time: 0 };
      for (let d = 0; d < 60; d++) avg = addToAverage(avg, 100, T0 + d * DAY);
      // Sample the average through the day after the last grant.
      const samples = Array.from({ length: 96 }, (_, i) => decayAverage(avg, avg.time + ((i + 0.5) * DAY) / 96).rac);
      const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
      expect(relErr(mean, 100)).toBeLessThan(0.02);
    });

    it('a steady rate of c a day converges to about c for other rates too', () => {
      for (const c of [5, 1000]) {
        let avg: Average = { rac: 0, time: 0 };
        for (let h = 0; h < 90 * 24; h++) avg = addToAverage(avg, c / 24, T0 + h * HOUR);
        expect(relErr(avg.rac, c)).toBeLessThan(0.02);
      }
    });

    it('is still far from converged after one day of work', () => {
      let avg: Average = { rac: 0, time: 0 };
      for (let h = 0; h < 24; h++) avg = addToAverage(avg, 100 / 24, T0 + h * HOUR);
      // About 1 - 2^(-1/7) ≈ 9.4% of the steady state.
      expect(avg.rac).toBeGreaterThan(5);
      expect(avg.rac).toBeLessThan(15);
    });
  });
});
