// A worker card's label says what its bar shows: the bar is drawn from the fraction itself, so
// the label must not lose a percent to floating point (0.29 × 100 is 28.999999999999996, which
// Math.floor made "28%" beside a bar at 29%).
import { describe, expect, it } from 'vitest';
import { percent } from '../../volunteer-web/src/format.js';

describe('percent', () => {
  it('says the whole percent a progress bar shows for every hundredth', () => {
    for (let i = 0; i <= 100; i++) expect(percent(i / 100)).toBe(`${i}%`);
    expect(percent(0.29)).toBe('29%');
    expect(percent(0.57)).toBe('57%');
  });

  it('never says 100% before the end, and clamps what is out of range', () => {
    expect(percent(0.996)).toBe('99%');
    expect(percent(2 / 3)).toBe('66%');
    expect(percent(1.5)).toBe('100%');
    expect(percent(-1)).toBe('0%');
  });
});
